#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Temporary output files to delete when the process is ended by a signal before they are renamed
/// into place, so Ctrl-C during a long conversion, or a crash, leaves nothing behind.
/// - Terminating signals (interrupt, termination, hangup, quit, a broken pipe, alarms, user signals,
///   CPU/file-size limits): the files are removed and the process dies of the same signal.
/// - Faults (segmentation fault, abort, illegal instruction, …): the files are removed and the signal
///   ends the process as it would have without a handler.
/// - A bus error means a mapped file shrank under us (another program truncated an input while it was
///   read): the files are removed and the process exits 2 with one line on stderr instead of crashing.
/// The handler only calls `unlink`, `write`, `signal`, `raise` and `_exit`, which are async-signal-safe.
public enum InterruptCleanup {
    private static let capacity = 16
    /// Paths as C strings, one per slot; nil when free. Written only under `lock`, read by the handler.
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
        return slots
    }()
    nonisolated(unsafe) private static let busErrorMessage: UnsafeMutablePointer<CChar> = strdup(
        "error: an input file became shorter or unreadable while vggconv was reading it (bus error); nothing was written. Run the command again once no other program is writing that file.\n")!
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    nonisolated(unsafe) private static var handlersInstalled = false
    private static let handler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = { number, info, context in
        for slot in 0..<InterruptCleanup.capacity {
            if let path = InterruptCleanup.slots[slot] { unlink(path) }
        }
        if number == SIGBUS {
            _ = write(2, InterruptCleanup.busErrorMessage, strlen(InterruptCleanup.busErrorMessage))
            _exit(2)
        }
        // The process dies of the signal: it is blocked while this handler runs and delivered when it
        // returns. (The Swift runtime's crash report is not chained: its helper process outlived the
        // crashed one holding the terminal's stderr, and a fault is a bug to reproduce, not to trace here.)
        _ = signal(number, SIG_DFL)
        raise(number)
    }

    /// Every signal whose default action ends the process and that a handler can catch.
    static let terminatingSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2,
                                              SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGPOLL]
    /// Faults, and the bus error of a mapped file that shrank.
    static let faultSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS]

    /// Remembers `path` for deletion on a signal; returns its slot (nil when all slots are taken, in
    /// which case the file is only cleaned up on normal exit paths).
    public static func register(_ path: String) -> Int? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard let slot = (0..<capacity).first(where: { slots[$0] == nil }) else { return nil }
        slots[slot] = strdup(path)
        installLocked()
        return slot
    }

    /// Installs the handlers now (a command calls this first, so a bus error while reading is reported
    /// even before any output exists); `register` installs them too.
    public static func install() {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        installLocked()
    }

    private static func installLocked() {
        guard !handlersInstalled else { return }
        handlersInstalled = true
        // Everything the handler reads exists before it can run: it never initialises a global.
        _ = slots
        _ = busErrorMessage
        for number in terminatingSignals + faultSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = handler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_SIGINFO | SA_ONSTACK  // on the alternate stack where one exists (a stack overflow)
            var previous = sigaction()
            guard sigaction(number, &action, &previous) == 0 else { continue }
            // A signal the parent chose to ignore (SIGPIPE under some shells) stays ignored.
            if terminatingSignals.contains(number), unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self) == 1 {  // SIG_IGN
                _ = sigaction(number, &previous, nil)
            }
        }
    }

    /// Forgets the path in `slot` (after the file was renamed or removed).
    public static func unregister(_ slot: Int?) {
        guard let slot else { return }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let path = slots[slot]
        slots[slot] = nil
        free(path)
    }
}
