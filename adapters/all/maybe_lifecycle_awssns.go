//go:build !edgerelay_omit_lifecycle_awssns

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/awssns" // registers the aws_sns lifecycle publisher
