#if canImport(Glibc)
import Glibc
#endif

/// Runs a read that a third-party library might crash on (libhdf5 1.10 on a corrupt variable-length
/// string) in a forked child first, so that a crash there becomes an error here.
enum CrashIsolation {
    /// True when `body`, run in a child process, returns normally within `seconds`; false when the
    /// child dies of a signal, hangs or exits otherwise. The child runs only `body` and `_exit`.
    static func survives(seconds: Int32 = 10, _ body: () -> Void) -> Bool {
        let child = fork()
        if child == 0 {
            // A hang in the child ends it (SIGALRM, default action), never the parent; the parent's
            // cleanup handler must not run in the child, where it would delete the parent's temp files.
            _ = signal(SIGALRM, SIG_DFL)
            alarm(UInt32(seconds))
            body()
            _exit(0)
        }
        guard child > 0 else { return false }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            guard errno == EINTR else { return false }
        }
        // WIFEXITED(status) && WEXITSTATUS(status) == 0
        return status & 0x7F == 0 && (status >> 8) & 0xFF == 0
    }
}
