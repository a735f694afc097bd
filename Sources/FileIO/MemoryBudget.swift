#if canImport(Glibc)
import Glibc
#endif

/// How much memory one large working set (the engine's activation buffers, a decoded image) may take:
/// most of the machine's memory, or of the process's address-space or data limit when one is set
/// (`ulimit -v`), so that work too large for the machine is refused with a message instead of ending in
/// a failed allocation.
public enum MemoryBudget {
    /// The share of the limit one working set may use; the model and the rest of the process need the remainder.
    public static let share = 0.75

    /// The budget in bytes.
    public static var bytes: Int {
        var limit = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        for resource in [RLIMIT_AS, RLIMIT_DATA] {
            var value = rlimit()
            if getrlimit(__rlimit_resource_t(resource.rawValue), &value) == 0, value.rlim_cur != rlim_t.max {  // RLIM_INFINITY
                limit = min(limit, Double(value.rlim_cur))
            }
        }
        return Int(max(0, limit * share))
    }
}
