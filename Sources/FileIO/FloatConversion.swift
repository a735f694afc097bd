/// Element-wise conversion between the floating-point dtypes (`--dtype`).
package enum FloatConversion {
    /// Converts `count` elements from `source` (dtype `from`) into `destination` (dtype `to`).
    package static func convert(_ source: UnsafeRawBufferPointer, from: DType, into destination: UnsafeMutableRawBufferPointer,
                        to: DType, count: Int) {
        if from == to {
            destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: count * from.byteSize)
            return
        }
        if from == .float64 && to == .float32 {
            let s = source.bindMemory(to: Double.self), d = destination.bindMemory(to: Float.self)
            for i in 0..<count { d[i] = Float(s[i]) }
            return
        }
        for i in 0..<count { store(load(source, from, i), destination, to, i) }
    }

    @inline(__always)
    private static func load(_ buffer: UnsafeRawBufferPointer, _ type: DType, _ i: Int) -> Double {
        switch type {
        case .float32: return Double(buffer.load(fromByteOffset: i * 4, as: Float.self))
        case .float64: return buffer.load(fromByteOffset: i * 8, as: Double.self)
        case .float16: return Double(Float(Float16(bitPattern: buffer.load(fromByteOffset: i * 2, as: UInt16.self))))
        case .bfloat16:
            let bits = UInt32(buffer.load(fromByteOffset: i * 2, as: UInt16.self)) << 16
            return Double(Float(bitPattern: bits))
        default: preconditionFailure("not a float dtype")
        }
    }

    @inline(__always)
    private static func store(_ value: Double, _ buffer: UnsafeMutableRawBufferPointer, _ type: DType, _ i: Int) {
        switch type {
        case .float32: buffer.storeBytes(of: Float(value), toByteOffset: i * 4, as: Float.self)
        case .float64: buffer.storeBytes(of: value, toByteOffset: i * 8, as: Double.self)
        case .float16: buffer.storeBytes(of: Float16(Float(value)).bitPattern, toByteOffset: i * 2, as: UInt16.self)
        case .bfloat16: buffer.storeBytes(of: bfloat16Bits(Float(value)), toByteOffset: i * 2, as: UInt16.self)
        default: preconditionFailure("not a float dtype")
        }
    }

    /// Rounds to the nearest bfloat16, ties to even; NaN stays NaN.
    package static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
