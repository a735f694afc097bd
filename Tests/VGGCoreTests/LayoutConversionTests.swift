import FileIO
@testable import VGGCore
import XCTest

/// The layout conversions against index formulas written out independently, both directions.
final class LayoutConversionTests: XCTestCase {
    private func apply(_ conversion: LayoutConversion, _ source: [Float]) -> [Float] {
        guard case .interleavedTranspose(let t) = conversion else { return source }
        var out = [Float](repeating: .nan, count: source.count)
        source.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                // Produce the rows in two uneven blocks to exercise block boundaries.
                let split = t.columns / 3
                t.apply(source: src, resultRows: 0..<split, elementSize: 4, into: dst)
                let rest = UnsafeMutableRawBufferPointer(rebasing: dst[(split * t.rows * 4)...])
                t.apply(source: src, resultRows: split..<t.columns, elementSize: 4, into: rest)
            }
        }
        return out
    }

    func testHWIOToOIHW() {
        let (kh, kw, i, o) = (3, 2, 5, 7)
        let source = (0..<(kh * kw * i * o)).map(Float.init)
        let out = apply(.hwioToOIHW(kernelHeight: kh, kernelWidth: kw, inputs: i, outputs: o), source)
        for a in 0..<o { for b in 0..<i { for h in 0..<kh { for w in 0..<kw {
            XCTAssertEqual(out[((a * i + b) * kh + h) * kw + w], source[((h * kw + w) * i + b) * o + a])
        } } } }
    }

    func testDenseAfterFlattenReordersRowsFromHWCToCHW() {
        // Keras flattens (H, W, C) as index (h*W + w)*C + c; the canonical input index is c*H*W + h*W + w.
        let (h, w, c, units) = (2, 3, 4, 5)
        let inputs = h * w * c
        let source = (0..<(inputs * units)).map(Float.init)
        let out = apply(.inOutToOutIn(inputs: inputs, outputs: units, flattenedSpatial: h * w), source)
        for u in 0..<units { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
            XCTAssertEqual(out[u * inputs + ch * h * w + y * w + x], source[((y * w + x) * c + ch) * units + u])
        } } } }
    }

    func testPlainDenseTranspose() {
        let source = (0..<12).map(Float.init)  // (in 3, out 4)
        let out = apply(.inOutToOutIn(inputs: 3, outputs: 4), source)
        XCTAssertEqual(out, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }

    /// `applyInParallel` splits four-byte tensors by channels across the cores (each core writes its
    /// columns of every result row): the result equals `apply`'s for any block of result rows, including
    /// channel counts that do not divide among the cores and blocks that start mid-tensor.
    func testParallelForwardByChannelsEqualsTheSerialOne() {
        for (groups, channels, columns) in [(49, 41, 300), (9, 3, 700), (1, 1_001, 515)] {
            let t = InterleavedTranspose(groups: groups, channels: channels, columns: columns, name: "test")
            let source = (0..<(t.rows * t.columns)).map { Float($0) + 0.25 }
            for rows in [0..<columns, 5..<(columns - 3), 17..<18] {
                var serial = [Float](repeating: -1, count: rows.count * t.rows), parallel = serial
                source.withUnsafeBytes { s in
                    serial.withUnsafeMutableBytes { t.apply(source: s, resultRows: rows, elementSize: 4, into: $0) }
                    parallel.withUnsafeMutableBytes { t.applyInParallel(source: s, resultRows: rows, elementSize: 4, into: $0) }
                }
                XCTAssertEqual(parallel, serial, "\(groups)x\(channels)x\(columns), rows \(rows)")
                XCTAssertFalse(serial.contains(-1))
            }
        }
    }

    func testInverseRestoresTheSourceInAnyRowRanges() {
        for conversion in [LayoutConversion.hwioToOIHW(kernelHeight: 3, kernelWidth: 3, inputs: 20, outputs: 70),
                           .inOutToOutIn(inputs: 24, outputs: 5, flattenedSpatial: 6),
                           .inOutToOutIn(inputs: 49 * 40, outputs: 300, flattenedSpatial: 49),
                           .inOutToOutIn(inputs: 37, outputs: 300)] {
            guard case .interleavedTranspose(let t) = conversion else { return XCTFail() }
            let source = (0..<(t.rows * t.columns)).map { Float($0) * 0.5 }
            let forward = apply(conversion, source)
            // Whole, in odd-sized pieces (crossing group boundaries), and split across cores.
            for pieces in [[0..<t.rows], [0..<7, 7..<(t.rows / 2 + 3), (t.rows / 2 + 3)..<t.rows]] {
                var back = [Float](repeating: -1, count: source.count)
                forward.withUnsafeBytes { f in
                    back.withUnsafeMutableBytes { b in
                        for rows in pieces {
                            t.applyInverse(result: f, sourceRows: rows, elementSize: 4,
                                           into: UnsafeMutableRawBufferPointer(rebasing: b[(rows.lowerBound * t.columns * 4)...]))
                        }
                    }
                }
                XCTAssertEqual(back, source, "\(t) in \(pieces)")
            }
            var parallel = [Float](repeating: -1, count: source.count)
            forward.withUnsafeBytes { f in
                parallel.withUnsafeMutableBytes { t.applyInverseInParallel(result: f, sourceRows: 0..<t.rows, elementSize: 4, into: $0) }
            }
            XCTAssertEqual(parallel, source, "\(t) in parallel")
            // By blocks of channels: each block holds, per group, a run of the source rows g * channels + c.
            for elementSize in [4, 2] {
                let values: [UInt32] = source.indices.map { UInt32($0) & (elementSize == 4 ? .max : 0xFFFF) }
                var forwardValues = [UInt32](repeating: 0, count: values.count)
                let narrow = values.map { UInt16(truncatingIfNeeded: $0) }
                var byChannels = [UInt8](repeating: 0, count: values.count * elementSize)
                let step = max(1, t.channels / 3)
                if elementSize == 4 {
                    values.withUnsafeBytes { s in forwardValues.withUnsafeMutableBytes { t.apply(source: s, resultRows: 0..<t.columns, elementSize: 4, into: $0) } }
                } else {
                    var forwardNarrow = [UInt16](repeating: 0, count: narrow.count)
                    narrow.withUnsafeBytes { s in forwardNarrow.withUnsafeMutableBytes { t.apply(source: s, resultRows: 0..<t.columns, elementSize: 2, into: $0) } }
                    forwardValues = forwardNarrow.map(UInt32.init)
                }
                let forwardBytes: [UInt8] = elementSize == 4 ? forwardValues.withUnsafeBytes { Array($0) }
                    : forwardValues.map { UInt16($0) }.withUnsafeBytes { Array($0) }
                for c0 in stride(from: 0, to: t.channels, by: step) {
                    let block = c0..<min(c0 + step, t.channels)
                    var staged = [UInt8](repeating: 0, count: block.count * t.groups * t.columns * elementSize)
                    forwardBytes.withUnsafeBytes { f in staged.withUnsafeMutableBytes { t.applyInverseByChannels(result: f, channels: block, elementSize: elementSize, into: $0) } }
                    let run = block.count * t.columns * elementSize
                    for g in 0..<t.groups {
                        let at = (g * t.channels + block.lowerBound) * t.columns * elementSize
                        byChannels.replaceSubrange(at..<(at + run), with: staged[(g * run)..<((g + 1) * run)])
                    }
                }
                let expected: [UInt8] = elementSize == 4 ? values.withUnsafeBytes { Array($0) } : narrow.withUnsafeBytes { Array($0) }
                XCTAssertEqual(byChannels, expected, "\(t) by channels, \(elementSize)-byte elements")
            }
            // Two-byte elements take the generic path.
            let halves = source.map { UInt16(Int($0 * 2) % 65_521) }
            var forwardHalves = [UInt16](repeating: 0, count: halves.count)
            halves.withUnsafeBytes { s in forwardHalves.withUnsafeMutableBytes { t.apply(source: s, resultRows: 0..<t.columns, elementSize: 2, into: $0) } }
            var backHalves = [UInt16](repeating: 0, count: halves.count)
            forwardHalves.withUnsafeBytes { f in backHalves.withUnsafeMutableBytes { t.applyInverse(result: f, sourceRows: 0..<t.rows, elementSize: 2, into: $0) } }
            XCTAssertEqual(backHalves, halves, "\(t) with 2-byte elements")
        }
    }

    func testTwoByteElements() {
        let source: [UInt16] = Array(0..<12)
        guard case .interleavedTranspose(let t) = LayoutConversion.inOutToOutIn(inputs: 3, outputs: 4) else { return XCTFail() }
        var out = [UInt16](repeating: 0, count: 12)
        source.withUnsafeBytes { s in out.withUnsafeMutableBytes { t.apply(source: s, resultRows: 0..<4, elementSize: 2, into: $0) } }
        XCTAssertEqual(out, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }
}
