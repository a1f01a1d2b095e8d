package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vservers/vserver/images"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["image"] = command{
		usage: "image build NAME [--from busybox|debootstrap] [--units DIR] [--hostname H]\n" +
			"        [--busybox PATH] [--suite S] [--mirror URL] [--variant V] [--include PKG,...]\n" +
			"  vhost image import NAME FILE|DIR [--ref REF] [--allow-devices]\n" +
			"  vhost image list [--json]\n" +
			"  vhost image inspect NAME [--json]\n" +
			"  vhost image du [NAME...] [-b] [--json]\n" +
			"  vhost image export NAME --oci-bundle DIR [--vinit PATH] [--hostname H]\n" +
			"  vhost image export NAME --oci-image DIR|FILE.tar [--vinit PATH] [--ref REF]\n" +
			"  vhost image rm NAME...",
		run: imageMain,
	}
}

// imageStore is the image store under the vhost root.
func imageStore(g *globals) *images.Store {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return images.Open(filepath.Join(g.root, "var/lib/vhost/images"), log)
}

func imageMain(g *globals, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "build":
		return imageBuild(g, args)
	case "list", "ls":
		return imageList(g, args, os.Stdout)
	case "inspect":
		return imageInspect(g, args, os.Stdout)
	case "rm":
		return imageRm(g, args)
	case "du":
		return imageDu(g, args, os.Stdout)
	case "import":
		return imageImport(g, args)
	case "export":
		return imageExport(g, args)
	}
	return errUsage
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func imageBuild(g *globals, args []string) error {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	from := fs.String("from", "busybox", "what to build from: busybox or debootstrap")
	units := fs.String("units", "", "directory of unit files to copy to /etc/vinit/units/")
	hostname := fs.String("hostname", "", "host name written to /etc/hostname (default: the image name)")
	busybox := fs.String("busybox", images.DefaultBusybox, "busybox: the statically linked busybox to install")
	suite := fs.String("suite", "bookworm", "debootstrap: the Debian suite")
	mirror := fs.String("mirror", "", "debootstrap: the archive URL (default: the host's, from /etc/apt)")
	variant := fs.String("variant", "minbase", "debootstrap: the --variant")
	include := fs.String("include", "", "debootstrap: extra packages, comma-separated")
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	s := imageStore(g)
	var img *images.Image
	switch *from {
	case "busybox":
		img, err = s.BuildBusybox(pos[0], images.BusyboxOptions{Busybox: *busybox, Units: *units, Hostname: *hostname})
	case "debootstrap":
		out, finish := toolOutput()
		opt := images.DebootstrapOptions{
			Suite: *suite, Mirror: *mirror, Variant: *variant,
			Units: *units, Hostname: *hostname, Output: out,
		}
		if *include != "" {
			opt.Include = strings.Split(*include, ",")
		}
		img, err = s.BuildDebootstrap(pos[0], opt)
		err = finish(err)
	default:
		return fmt.Errorf("--from %q: unknown source; want busybox or debootstrap", *from)
	}
	if err != nil {
		return err
	}
	fmt.Printf("built image %s in %s\n", img.Name, img.Dir)
	return nil
}

func imageImport(g *globals, args []string) error {
	fs := flag.NewFlagSet("image import", flag.ContinueOnError)
	var opt images.ImportOptions
	fs.BoolVar(&opt.AllowDevices, "allow-devices", false, "create the device nodes the archive holds (refused by default)")
	fs.StringVar(&opt.Ref, "ref", "", "OCI: the image to take from a layout or archive holding several (ref name or tag)")
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) != 2 {
		return errUsage
	}
	// An OCI layout (a directory, or a tar of one) or a docker save
	// archive; anything else is a rootfs tarball.
	oci, err := images.IsOCI(pos[1])
	if err != nil {
		return err
	}
	var img *images.Image
	p := startProgress("importing " + pos[1])
	if oci {
		img, err = imageStore(g).ImportOCI(pos[0], pos[1], opt)
	} else {
		img, err = importTarball(imageStore(g), pos[0], pos[1], opt, p)
	}
	p.stop()
	if err != nil {
		return err
	}
	fmt.Printf("imported image %s in %s\n", img.Name, img.Dir)
	return nil
}

// importTarball is Store.ImportFile with the bytes read counted on the
// progress line.
func importTarball(s *images.Store, name, path string, opt images.ImportOptions, p *progress) (*images.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if opt.Source == "" {
		abs, _ := filepath.Abs(path)
		opt.Source = "tar " + abs
	}
	return s.Import(name, p.reader(f), opt)
}

func imageExport(g *globals, args []string) error {
	fs := flag.NewFlagSet("image export", flag.ContinueOnError)
	bundle := fs.String("oci-bundle", "", "write an OCI runtime bundle to this new directory")
	ociImage := fs.String("oci-image", "", "write an OCI image layout to this new directory, or a tar of one if it ends in .tar")
	var opt images.OCIOptions
	fs.StringVar(&opt.Vinit, "vinit", "", "the static vinit binary to install (default: $VHOST_VINIT, vinit beside vhost, /usr/lib/vhost/vinit)")
	fs.StringVar(&opt.Hostname, "hostname", "", "--oci-bundle: the bundle's host name (default: the image's)")
	ref := fs.String("ref", "latest", "--oci-image: the image's ref name in index.json")
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) != 1 || (*bundle == "") == (*ociImage == "") {
		return errUsage
	}
	if opt.Vinit == "" {
		if opt.Vinit, err = findVinit(); err != nil { // shared with start/run (vserver.go)
			return err
		}
	}
	if *ociImage != "" {
		p := startProgress("exporting " + pos[0])
		err := imageStore(g).ExportOCIImage(pos[0], *ociImage, images.OCIImageOptions{Vinit: opt.Vinit, Ref: *ref})
		p.stop()
		if err != nil {
			return err
		}
		fmt.Printf("exported image %s as an OCI image in %s (ref %s)\n", pos[0], *ociImage, *ref)
		return nil
	}
	p := startProgress("exporting " + pos[0])
	err = imageStore(g).ExportOCIBundle(pos[0], *bundle, opt)
	p.stop()
	if err != nil {
		return err
	}
	fmt.Printf("exported image %s as an OCI bundle in %s (run: crun run --bundle %s ID)\n", pos[0], *bundle, *bundle)
	return nil
}

func imageList(g *globals, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("image list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseArgs(fs, args); err != nil || len(pos) != 0 {
		return errUsage
	}
	imgs, listErr := imageStore(g).List()
	if *asJSON {
		if imgs == nil {
			imgs = []*images.Image{}
		}
		if err := writeJSON(w, imgs); err != nil {
			return err
		}
		return listErr
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tARCH\tCREATED\tSOURCE")
	for _, img := range imgs {
		m := img.Manifest
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.Name, m.Arch, m.Created.Local().Format(time.DateTime), m.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return listErr
}

func imageInspect(g *globals, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("image inspect", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	img, err := imageStore(g).Get(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(w, img)
	}
	m := img.Manifest
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", img.Name)
	fmt.Fprintf(tw, "dir:\t%s\n", img.Dir)
	fmt.Fprintf(tw, "rootfs:\t%s\n", img.Rootfs)
	fmt.Fprintf(tw, "created:\t%s\n", m.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "source:\t%s\n", m.Source)
	fmt.Fprintf(tw, "arch:\t%s\n", m.Arch)
	if m.Hostname != "" {
		fmt.Fprintf(tw, "hostname:\t%s\n", m.Hostname)
	}
	return tw.Flush()
}

func imageRm(g *globals, args []string) error {
	fs := flag.NewFlagSet("image rm", flag.ContinueOnError)
	pos, err := parseArgs(fs, args)
	if err != nil || len(pos) == 0 {
		return errUsage
	}
	s := imageStore(g)
	var errs []error
	for _, name := range pos {
		inUse := func(image string) bool { return vserver.ImageInUse(vserver.Paths{Root: g.root}, image) }
		if err := s.Remove(name, images.RemoveOptions{InUse: inUse}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func imageDu(g *globals, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("image du", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	bytes := fs.Bool("b", false, "print sizes in bytes")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return errUsage
	}
	s := imageStore(g)
	if len(pos) == 0 {
		imgs, err := s.List()
		if err != nil {
			return err
		}
		for _, img := range imgs {
			pos = append(pos, img.Name)
		}
	}
	type row struct {
		Name string `json:"name"`
		images.Usage
	}
	rows := []row{}
	for _, name := range pos {
		u, err := s.DiskUsage(name)
		if err != nil {
			return err
		}
		rows = append(rows, row{name, u})
	}
	if *asJSON {
		return writeJSON(w, rows)
	}
	for _, r := range rows {
		size := humanBytes(r.Bytes)
		if *bytes {
			size = fmt.Sprint(r.Bytes)
		}
		fmt.Fprintf(w, "%s\t%s\n", size, r.Name)
	}
	return nil
}

// humanBytes formats n like du -h: 1024-based, one decimal below 10.
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d", n)
	}
	f := float64(n)
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f%c", f, units[i])
	}
	return fmt.Sprintf("%.0f%c", f, units[i])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
