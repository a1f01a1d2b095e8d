// Package supervisor runs the services of a units set: one state machine per
// service, started in dependency order once what each requires is ready,
// restarted by its policy with backoff, and stopped in reverse order with its
// stop signal, a timeout and SIGKILL.
//
// Every child is forked through the reaper (reaper.StartFunc), so the
// supervisor never calls wait4 and never calls exec.Cmd.Wait: a service's
// exit is handed to it by the reaper as an event. A service is its own process group
// (Setpgid), and signals go to the whole group. A child's stdio is only ever
// *os.File, so no copying goroutine outlives it; its output goes through a
// pipe the supervisor holds for the service's whole life, across restarts,
// and is written to the console with the prefix "name | ".
//
// A service's state machine is driven by events (commands, its process's
// exit, its timers), handled in order by a goroutine that exists only while
// there are some: an idle service costs no goroutine. The state machine
// (service.go) is apart from the code that forks
// (process_linux.go): it sees a process only through a small interface, so
// restart and backoff timing is tested under testing/synctest with fake
// processes, and the rest with real ones.
package supervisor
