package quota

import "errors"

// ErrUnsupported is wrapped by the errors of Supported, SetLimit and Get
// when the filesystem cannot enforce project quotas.
var ErrUnsupported = errors.New("project quotas not supported")

// Usage is what a project uses on a filesystem, and its limits.
type Usage struct {
	Bytes      uint64 `json:"bytes"`       // space used
	Inodes     uint64 `json:"inodes"`      // files, directories and links
	LimitBytes uint64 `json:"limit_bytes"` // hard limit on space; 0 means none
}
