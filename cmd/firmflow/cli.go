package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
)

// Exit statuses: 2 for a command line that cannot run (as the flag package and most
// Unix tools do), 1 for a command that ran and failed.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// version is set at build time (-ldflags "-X main.version=v1.2.3"); otherwise the
// module version and VCS revision Go recorded are shown.
var version = ""

// command is one subcommand. Commands of a group ("audit verify") are named with a
// space; the group itself ("audit") lists them in its help.
type command struct {
	name string
	// args describes the positional arguments in the usage line.
	args    string
	summary string
	// about is the longer help text, shown by `firmflow help NAME` and --help.
	about string
	// setup declares the command's flags on fs and returns the function that runs
	// it with the positional arguments.
	setup func(fs *flag.FlagSet, io *streams) func(ctx context.Context, args []string) error
}

// streams are the command's standard streams, so tests can run the CLI in-process.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is a command line the command cannot run: it exits with status 2 and
// its usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// cli runs args (without the program name) and returns the exit status.
func cli(ctx context.Context, args []string, s *streams) int {
	if len(args) == 0 {
		fmt.Fprintln(s.stderr, "firmflow: no command given; `firmflow dev` runs the whole system")
		printUsage(s.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(s.stdout)
		return exitOK
	case "-version", "--version":
		args = []string{"version"}
	case "help":
		return help(args[1:], s)
	}
	cmd, rest, ok := lookup(args)
	if !ok {
		if group := subcommands(args[0]); len(group) > 0 {
			if len(args) > 1 && !isHelpFlag(args[1]) {
				fmt.Fprintf(s.stderr, "firmflow %s: unknown command %q\n\n", args[0], args[1])
				printGroup(s.stderr, args[0], group)
				return exitUsage
			}
			code := exitUsage
			w := s.stderr
			if len(args) > 1 {
				code, w = exitOK, s.stdout
			} else {
				fmt.Fprintf(w, "firmflow %s: which command?\n\n", args[0])
			}
			printGroup(w, args[0], group)
			return code
		}
		fmt.Fprintf(s.stderr, "firmflow: unknown command %q\n\n", args[0])
		printUsage(s.stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("firmflow "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed below, once
	run := cmd.setup(fs, s)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommand(s.stdout, cmd, fs)
		return exitOK
	}
	if err == nil {
		err = run(ctx, positional)
	}
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage) || isFlagError(err):
		fmt.Fprintf(s.stderr, "firmflow %s: %v\n\n", cmd.name, err)
		printCommand(s.stderr, cmd, fs)
		return exitUsage
	default:
		fmt.Fprintf(s.stderr, "firmflow %s: %v\n", cmd.name, err)
		return exitError
	}
}

// flagError marks an error from parsing flags.
type flagError struct{ error }

func isFlagError(err error) bool {
	var f flagError
	return errors.As(err, &f)
}

func isHelpFlag(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// parseInterspersed parses flags wherever they stand among the positional arguments
// (`audit verify FILE --public-key K` as well as `--public-key K FILE`); everything
// after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(positional, tail...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// lookup finds the command args name: "audit verify ..." before "audit ...".
func lookup(args []string) (command, []string, bool) {
	if len(args) > 1 {
		for _, c := range commands() {
			if c.name == args[0]+" "+args[1] {
				return c, args[2:], true
			}
		}
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c, args[1:], true
		}
	}
	return command{}, nil, false
}

// subcommands are the commands of a group ("staff" -> create, offboard).
func subcommands(group string) []command {
	var out []command
	for _, c := range commands() {
		if strings.HasPrefix(c.name, group+" ") {
			out = append(out, c)
		}
	}
	return out
}

func help(args []string, s *streams) int {
	if len(args) == 0 {
		printUsage(s.stdout)
		return exitOK
	}
	if cmd, rest, ok := lookup(args); ok && len(rest) == 0 {
		fs := flag.NewFlagSet("firmflow "+cmd.name, flag.ContinueOnError)
		cmd.setup(fs, s)
		printCommand(s.stdout, cmd, fs)
		return exitOK
	}
	if group := subcommands(args[0]); len(group) > 0 && len(args) == 1 {
		printGroup(s.stdout, args[0], group)
		return exitOK
	}
	fmt.Fprintf(s.stderr, "firmflow help: unknown command %q\n\n", strings.Join(args, " "))
	printUsage(s.stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `firmflow is the developer and operator CLI of firmflow.

Usage:
  firmflow <command> [flags] [arguments]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  help [command]\tshow this help, or a command's\n")
	_ = tw.Flush()
	fmt.Fprint(w, `
Configuration comes from FIRMFLOW_* environment variables (see README.md); flags
override them. Run 'firmflow help <command>' or 'firmflow <command> --help' for
a command's flags.
`)
}

func printGroup(w io.Writer, group string, cmds []command) {
	fmt.Fprintf(w, "Usage:\n  firmflow %s <command> [flags] [arguments]\n\nCommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
}

func printCommand(w io.Writer, c command, fs *flag.FlagSet) {
	usage := "firmflow " + c.name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		usage += " [flags]"
	}
	if c.args != "" {
		usage += " " + c.args
	}
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n", usage, strings.TrimSpace(c.about))
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// versionString is the build's version: -ldflags first, then what Go recorded.
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v + " " + info.GoVersion
}
