// Package proc reads what vhost and vinit need to know of processes from
// /proc, and finds commands as execvp(3) would. It is shared by the host
// side (context), the supervisor and vinit's single-command mode, which
// each had their own copy.
package proc
