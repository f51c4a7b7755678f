package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// applyConfigFile sets, from the TOML file at path, every flag of fs that
// was neither given on the command line nor set by its QUIRE_* variable:
// the precedence is flag > environment > file > default. The file's keys
// are flag names, so every flag serve declares can be set in the file.
// A key that names no flag is an error naming it.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	var file map[string]any
	if _, err := toml.DecodeFile(path, &file); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var unknown []string
	for key := range file {
		if fs.Lookup(key) == nil || key == "config" {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("config file %s: unknown keys %s (keys are flag names; see quire serve --help)", path, strings.Join(unknown, ", "))
	}
	keys := make([]string, 0, len(file))
	for key := range file {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if onCommandLine[key] {
			continue
		}
		if _, ok := os.LookupEnv(envName(key)); ok {
			continue
		}
		v, err := configValue(file[key])
		if err != nil {
			return fmt.Errorf("config file %s: key %s: %w", path, key, err)
		}
		if err := fs.Set(key, v); err != nil {
			return fmt.Errorf("config file %s: key %s: %w", path, key, err)
		}
	}
	return nil
}

// configValue turns a TOML value into the text a flag parses. Durations
// are written as strings ("5m"); lists become comma-separated.
func configValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := configValue(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("unsupported value of type %T", v)
}
