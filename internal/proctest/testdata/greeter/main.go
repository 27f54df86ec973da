// Command greeter is the child of the harness's own tests: it logs the address it reads from
// standard input, and a greeting that an extra file may change, then waits for SIGTERM.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

var greeting = "plain"

func main() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Printf("level=INFO msg=ready addr=%s greeting=%s\n", strings.TrimSpace(line), greeting)
	<-term
}
