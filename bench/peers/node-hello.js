// node-hello: Node's http module answering GET /plaintext with "Hello, World!", the peer of
// scripts/compare.sh. One process, no cluster.
//   node node-hello.js PORT
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node node-hello.js PORT');
  process.exit(2);
}
const hello = Buffer.from('Hello, World!');
const headers = { 'Content-Type': 'text/plain', 'Content-Length': hello.length };

http.createServer((req, res) => {
  if (req.url === '/plaintext') {
    res.writeHead(200, headers);
    res.end(hello);
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
}).listen(port, '127.0.0.1');
