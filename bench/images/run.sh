#!/bin/sh
# Time and disk to create N vservers' root filesystems from one image:
# a full copy of the image each (cp -a) against an overlay each (an empty
# upper and work directory, mounted over the shared image as vhost does).
# Run as root from the repository: sh bench/images/run.sh [N] [IMAGE-SOURCE]
# IMAGE-SOURCE is busybox (default) or a directory holding a rootfs.
set -eu
N=${1:-100}
SRC=${2:-busybox}
work=$(mktemp -d /var/tmp/vhost-bench-images.XXXXXX)
trap 'for m in $(grep " $work/" /proc/mounts | cut -d" " -f2 | sort -r); do umount "$m"; done; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/vhost
export VHOST_ROOT="$work/root"
if [ "$SRC" = busybox ]; then
	"$work/bin/vhost" image build img --from busybox >/dev/null
	image="$VHOST_ROOT/var/lib/vhost/images/img/rootfs"
else
	image=$SRC
fi
now() { date +%s.%N; }
kib() { du -sxk "$1" | cut -f1; }

echo "image: $image, $(kib "$image") KiB, $(find "$image" -xdev | wc -l) entries; $N vservers"

mkdir "$work/copy"; sync
t0=$(now)
i=0; while [ $i -lt $N ]; do cp -a "$image" "$work/copy/$i"; i=$((i+1)); done
sync; t1=$(now)
echo "full copy: $(echo "$t1 - $t0" | bc) s, $(kib "$work/copy") KiB"

mkdir "$work/overlay"; sync
t0=$(now)
i=0; while [ $i -lt $N ]; do
	d="$work/overlay/$i"; mkdir -p "$d/upper" "$d/work" "$d/root"
	mount -t overlay overlay -o "lowerdir=$image,upperdir=$d/upper,workdir=$d/work" "$d/root"
	i=$((i+1))
done
sync; t1=$(now)
echo "overlay: $(echo "$t1 - $t0" | bc) s, $(kib "$work/overlay") KiB (upper+work; the image counted once, $(kib "$image") KiB)"
