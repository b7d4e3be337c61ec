//go:build !edgerelay_omit_script

package all

import _ "github.com/edgerelay/edgerelay/adapters/script" // registers the script sink
