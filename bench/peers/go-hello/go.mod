module tether.local/bench/peers/go-hello

go 1.19
