package tmsync

// Version is the tool's version, set at build time by the Makefile.
var Version = "dev"
