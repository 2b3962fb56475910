// go-hello: Go's net/http answering GET /plaintext with "Hello, World!", the peer of
// scripts/compare.sh. Standard library only; run with GOMAXPROCS=1 on one CPU.
//
//	go-hello PORT
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

var hello = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", "13")
	w.Write(hello)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-hello PORT")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], mux))
}
