// Package quota limits the disk space a directory tree may take, with the
// project quotas of ext4 and XFS.
//
// A project quota counts the blocks and inodes of every file carrying a
// project id, whatever its owner. SetLimit gives a directory a project id
// with the PROJINHERIT flag, so that everything later created below it
// inherits the id, and sets the limit of that id on the directory's
// filesystem. Writes beyond it fail with EDQUOT ("disk quota exceeded").
//
// The filesystem must be mounted with project quotas on: XFS with
// -o prjquota (or pquota), ext4 created with -O quota,project (or
// tune2fs -O project,quota) and mounted with -o prjquota. Supported tells
// why a directory's filesystem cannot enforce a limit, so a caller can
// refuse the limit with a clear error rather than ignore it.
//
// The caller chooses project ids and must keep them apart: one per
// directory tree (vhost uses one per vserver). Id 0 is the default project
// of every file and is refused.
package quota
