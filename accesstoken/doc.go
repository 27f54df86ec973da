// Package accesstoken owns keyward's access tokens as they travel: the RFC 9068 claims in their JSON form and the one strict verification that keyward's server and its resource-server middleware both run.
package accesstoken
