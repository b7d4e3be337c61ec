//go:build !edgerelay_omit_stdout

package all

import _ "github.com/edgerelay/edgerelay/adapters/stdout" // registers the stdout adapter
