// Command bench measures keyward's token endpoint under load, side by side with a bare ES256 signer
// on the same machine, and prints the result as a Markdown table.
package main
