import Foundation

/// The size of the CPU's last-level cache, read once from sysfs (`sysconf` reports the sum over all of a
/// VM host's caches on some machines: 320 MiB where lscpu and sysfs say 32 MiB); 8 MiB when unknown.
enum LastLevelCache {
    static let bytes: Int = {
        let base = "/sys/devices/system/cpu/cpu0/cache"
        var best = 0
        for index in 0..<8 {
            guard let text = try? String(contentsOfFile: "\(base)/index\(index)/size", encoding: .utf8) else { continue }
            best = max(best, parse(text) ?? 0)
        }
        return best > 0 ? best : 8 << 20
    }()

    /// "32768K" → 33554432; also "M" and plain bytes.
    static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let unit = trimmed.last else { return nil }
        let scale = unit == "K" ? 1 << 10 : unit == "M" ? 1 << 20 : 1
        guard let value = Int(scale == 1 ? trimmed : String(trimmed.dropLast())), value > 0, value < 1 << 40 else { return nil }
        return value * scale
    }
}
