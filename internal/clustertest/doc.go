// Package clustertest runs keyward as several processes on one PostgreSQL database, behind a TCP
// proxy that cuts their database connections on demand, for the tests that prove the instances
// behave as one service.
package clustertest
