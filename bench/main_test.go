package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-only", "refresh, exchange"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.only, ",") != "exchange,refresh" || o.Keys != 64 || o.Connections != 32 || o.Duration != 10*time.Second {
		t.Errorf("parsed %+v", o)
	}
	for _, args := range [][]string{
		{"-only", "exchange,bogus"},
		{"-keys", "0"},
		{"-duration", "100ms"},
		{"-db", "sqlite:/tmp/x.db"},
		{"-only", "refresh", "-profile", "cpu.prof"},
		{"extra"},
		{"-instances", "0"},
		{"-instances", "2"}, // SQLite serves one process
		{"-compare"},        // nothing to compare SQLite with
		{"-db", "postgres://db/kw", "-instances", "2", "-profile", "cpu.prof"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestSetups(t *testing.T) {
	const pg = "postgres://db/kw"
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"SQLite"}},
		{[]string{"-db", pg}, []string{"PostgreSQL"}},
		{[]string{"-db", pg, "-instances", "3"}, []string{"PostgreSQL, 3 instances"}},
		{[]string{"-db", pg, "-compare"}, []string{"SQLite", "PostgreSQL", "PostgreSQL, 2 instances"}},
		{[]string{"-db", pg, "-compare", "-instances", "3"}, []string{"SQLite", "PostgreSQL", "PostgreSQL, 3 instances"}},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		var got []string
		for _, s := range o.setups() {
			got = append(got, s.Kind())
			if (s.DB == "") != (s.Kind() == "SQLite") {
				t.Errorf("%q: setup %q has database %q", tc.args, s.Kind(), s.DB)
			}
		}
		if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
			t.Errorf("%q: setups %q, want %q", tc.args, got, tc.want)
		}
	}
}
