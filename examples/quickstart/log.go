package main

import (
	"io"
	"log"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type v1Layer = v1.Layer

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
