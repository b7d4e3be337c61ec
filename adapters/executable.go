package adapters

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// CheckExecutable reports why the program at path cannot be run now, or nil: it is
// missing, a directory or not a regular file, or has no execute bit. There is no
// PATH lookup: a bare name is a file in the working directory. The daemon's config
// loader calls it for every key tagged check:"executable" (with the key's line), and
// an adapter that runs programs calls it again when it connects.
func CheckExecutable(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !strings.ContainsRune(path, '/'):
		return fmt.Errorf("%s: no such file (the path is used as given, without a PATH lookup: give the full path)", path)
	case err != nil:
		return err // *PathError: names the path
	case st.IsDir():
		return fmt.Errorf("%s is a directory, not an executable file", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable (mode %s; chmod +x it)", path, st.Mode().Perm())
	}
	return nil
}
