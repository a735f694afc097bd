import CKernels
@testable import Inference
import XCTest

/// The C kernels on shapes the sample models do not reach, against sums in double precision.
final class KernelTests: XCTestCase {
    /// Weight rows longer than one input chunk (4096) and not a multiple of the vector width, every
    /// batch size the kernel takes, and a unit range that starts past zero (as each core's share does).
    func testSmallBatchDenseMatchesDoubleSums() {
        var generator = SystemRandomNumberGenerator()
        let w = (0..<(Self.denseUnits * Self.denseInputs)).map { _ in Float.random(in: -1...1, using: &generator) }
        checkDenseKernel(weights: w) { x, batch, y in
            CKernels_dense_small_batch(x, batch, Self.denseInputs, w, 5, Self.denseUnits, y, Self.denseUnits)
        }
    }

    /// The half-precision form on the same shapes: weights rounded to float16 and widened by Swift's own
    /// conversion for the reference.
    func testHalfPrecisionDenseMatchesDoubleSums() {
        var generator = SystemRandomNumberGenerator()
        let halves = (0..<(Self.denseUnits * Self.denseInputs)).map { _ in Float16(Float.random(in: -1...1, using: &generator)).bitPattern }
        checkDenseKernel(weights: halves.map { Float(Float16(bitPattern: $0)) }) { x, batch, y in
            CKernels_dense_small_batch_f16(x, batch, Self.denseInputs, halves, 5, Self.denseUnits, y, Self.denseUnits)
        }
    }

    private static let (denseInputs, denseUnits) = (9_003, 21)

    /// Runs `kernel(x, batch, y)` for every batch size on random inputs and checks units [5, denseUnits)
    /// against double-precision sums with `weights` (units × inputs); units below 5 must stay untouched.
    private func checkDenseKernel(weights w: [Float], _ kernel: ([Float], Int, UnsafeMutablePointer<Float>) -> Void) {
        var generator = SystemRandomNumberGenerator()
        let (inputs, units) = (Self.denseInputs, Self.denseUnits)
        for batch in 1...Int(CKERNELS_DENSE_MAX_BATCH) {
            let x = (0..<(batch * inputs)).map { _ in Float.random(in: -1...1, using: &generator) }
            var y = [Float](repeating: .nan, count: batch * units)
            y.withUnsafeMutableBufferPointer { kernel(x, batch, $0.baseAddress!) }
            for n in 0..<batch {
                for u in 0..<units {
                    if u < 5 { XCTAssertTrue(y[n * units + u].isNaN, "unit \(u) outside the range was written"); continue }
                    var sum = 0.0
                    for i in 0..<inputs { sum += Double(x[n * inputs + i]) * Double(w[u * inputs + i]) }
                    XCTAssertEqual(Double(y[n * units + u]), sum, accuracy: 1e-3, "batch \(batch), sample \(n), unit \(u)")
                }
            }
        }
    }

    /// Every one of the 65,536 half-precision bit patterns widens to what Swift's Float16 gives (subnormals,
    /// infinities; NaNs stay NaNs with their payload), by the scalar conversion and by the vector one.
    func testHalfToFloatIsExactForEveryBitPattern() {
        let halves = (0...UInt16.max).map { $0 }
        var widened = [Float](repeating: 0, count: halves.count)
        CKernels_widen_halves(halves, halves.count, &widened)
        for bits in halves {
            let expected = Float(Float16(bitPattern: bits)), scalar = CKernels_half_to_float(bits), vector = widened[Int(bits)]
            if expected.isNaN {
                XCTAssertTrue(scalar.isNaN && vector.isNaN, "0x\(String(bits, radix: 16))")
                XCTAssertEqual(scalar.bitPattern, vector.bitPattern, "0x\(String(bits, radix: 16)): NaN payloads differ")
            } else {
                XCTAssertEqual(scalar.bitPattern, expected.bitPattern, "0x\(String(bits, radix: 16))")
                XCTAssertEqual(vector.bitPattern, expected.bitPattern, "0x\(String(bits, radix: 16))")
            }
        }
    }

    /// sysfs cache sizes ("32768K") parse to bytes; anything else is refused, so the 8 MiB default applies.
    /// The multiply/output split over cores covers every (panel, tile) exactly once, with tile ranges on
    /// 16-tile boundaries, and balances the 11 panels of a 64-channel layer by splitting tiles too.
    func testWinogradGridCoversEachCellOnceAndBalances() {
        for (panels, tiles, cores) in [(11, 384, 2), (11, 384, 16), (86, 128, 2), (86, 16, 16), (2, 64, 3), (1, 5, 8), (22, 3136, 8), (43, 200, 5)] {
            let grid = WinogradConvolution.grid(panels: panels, tiles: tiles, cores: cores)
            XCTAssertLessThanOrEqual(grid.cells, cores)
            var covered = [Int](repeating: 0, count: panels * tiles)
            for index in 0..<grid.cells {
                let (p, t) = grid.cell(index)
                XCTAssertEqual(t.isEmpty ? 0 : t.lowerBound % 16, 0)
                for panel in p { for tile in t { covered[panel * tiles + tile] += 1 } }
            }
            XCTAssertEqual(Set(covered), [1], "\(panels) panels, \(tiles) tiles, \(cores) cores")
        }
        XCTAssertEqual(WinogradConvolution.grid(panels: 11, tiles: 384, cores: 2).tileParts, 2)  // 11 × 12 column panels each, not 6 + 5 panels
        XCTAssertEqual(WinogradConvolution.grid(panels: 86, tiles: 128, cores: 2).tileParts, 1)  // 43 + 43: U read once
        let wide = WinogradConvolution.grid(panels: 11, tiles: 384, cores: 16)
        XCTAssertGreaterThan(wide.cells, 11)  // more than one core per panel
    }

    func testLastLevelCacheSizeParsing() {
        XCTAssertEqual(LastLevelCache.parse("32768K\n"), 32 << 20)
        XCTAssertEqual(LastLevelCache.parse("8M"), 8 << 20)
        XCTAssertEqual(LastLevelCache.parse("1048576"), 1 << 20)
        for bad in ["", "K", "-4K", "0K", "12Q", "99999999999999999999K"] { XCTAssertNil(LastLevelCache.parse(bad), bad) }
        XCTAssertGreaterThan(LastLevelCache.bytes, 0)
    }
}
