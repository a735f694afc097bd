#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Temporary output files to delete when the process is ended by a catchable signal (interrupt,
/// termination, hangup, quit, a broken pipe, alarms, user signals, CPU/file-size limits) before they
/// are renamed into place, so Ctrl-C during a long conversion leaves nothing behind. The handler
/// only calls `unlink`, `signal` and `raise`, which are async-signal-safe, then dies of the same signal.
enum InterruptCleanup {
    private static let capacity = 16
    /// Paths as C strings, one per slot; nil when free. Written only under `lock`, read by the handler.
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
        return slots
    }()
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    nonisolated(unsafe) private static var handlersInstalled = false
    private static let handler: @convention(c) (Int32) -> Void = { number in
        for slot in 0..<InterruptCleanup.capacity {
            if let path = InterruptCleanup.slots[slot] { unlink(path) }
        }
        _ = signal(number, SIG_DFL)
        raise(number)
    }

    /// Every signal whose default action ends the process and that a handler can catch.
    static let terminatingSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2,
                                              SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGPOLL]

    /// Remembers `path` for deletion on interrupt; returns its slot (nil when all slots are taken, in
    /// which case the file is only cleaned up on normal exit paths).
    static func register(_ path: String) -> Int? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard let slot = (0..<capacity).first(where: { slots[$0] == nil }) else { return nil }
        slots[slot] = strdup(path)
        if !handlersInstalled {  // after `slots` exists, so the handler never initialises it
            for number in terminatingSignals {
                // A signal the parent chose to ignore (SIGPIPE under some shells) stays ignored.
                if let previous = signal(number, handler), unsafeBitCast(previous, to: Int.self) == 1 {  // SIG_IGN
                    _ = signal(number, previous)
                }
            }
            handlersInstalled = true
        }
        return slot
    }

    /// Forgets the path in `slot` (after the file was renamed or removed).
    static func unregister(_ slot: Int?) {
        guard let slot else { return }
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let path = slots[slot]
        slots[slot] = nil
        free(path)
    }
}
