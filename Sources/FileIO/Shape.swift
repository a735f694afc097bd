/// Overflow-checked size arithmetic for shapes read from untrusted files.
public enum ShapeMath {
    /// The number of elements in `shape`, or nil when a dimension is negative or the product overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The byte size of a tensor, or nil on overflow.
    public static func byteCount(_ shape: [Int], dtype: DType) -> Int? {
        guard let count = elementCount(shape) else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        return overflow ? nil : bytes
    }

    /// `value` rounded up to a multiple of `alignment` (a power of two), or nil on overflow.
    public static func alignUp(_ value: Int, to alignment: Int) -> Int? {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum & ~(alignment - 1)
    }

    /// The product of `factors`, clamped to `Int.max` (for reported totals such as MACs, never for sizes).
    public static func saturatingProduct(_ factors: [Int]) -> Int {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: max(factor, 0))
            if overflow { return .max }
            product = next
        }
        return product
    }

    /// `a + b` clamped to `Int.max` (for reported totals, never for sizes).
    public static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }
}

/// The one rule for moving a sample's shape between channel orders: (H, W, C) ↔ (C, H, W) for
/// 3-d shapes; flat shapes are the same in both.
public enum ChannelOrder {
    /// (H, W, C) → (C, H, W).
    public static func channelsFirst(_ shape: [Int]) -> [Int] { shape.count == 3 ? [shape[2], shape[0], shape[1]] : shape }
    /// (C, H, W) → (H, W, C).
    public static func channelsLast(_ shape: [Int]) -> [Int] { shape.count == 3 ? [shape[1], shape[2], shape[0]] : shape }
}
