// Package images is the vserver image store.
//
// An image is a directory NAME under the store holding the guest's root
// filesystem and a small manifest:
//
//	STORE/NAME/rootfs/      the files the guest sees as /
//	STORE/NAME/image.yaml   the Manifest: name, created, source, arch
//
// Images are built (BuildBusybox) or imported (Import) into a staging
// directory inside the store, .staging-NAME-RANDOM, and renamed into place
// with RENAME_NOREPLACE, so an image either exists complete or not at all.
// A build holds an flock on its staging directory for as long as it runs;
// the next build or import removes every staging directory nobody holds,
// which is all an interrupted build leaves behind. Remove first renames the
// image out of the way (.removing-NAME-RANDOM), then deletes it, so a
// half-deleted image never shows up under its name.
//
// The package lays out files only: it never starts a process inside an image.
// The host side of a running vserver (package context) mounts the rootfs and
// bind-mounts vinit read-only onto /sbin/vinit, an empty file every image
// carries for that purpose.
package images
