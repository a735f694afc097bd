import Foundation
@testable import VGGConvKit
import FileIO
@testable import VGGCore
import XCTest

/// `diff` pairs a transposed Keras kernel with a canonical tensor in tiles of (outputs × channels × every
/// group), in an order of its own: the statistics must be those of the straightforward comparison in
/// canonical rows, for shapes that do not divide into tiles, either argument order, and non-finite values.
final class TiledComparisonTests: XCTestCase {
    func testTilesGiveTheStatisticsOfCanonicalRows() throws {
        var generator = SystemRandomNumberGenerator()
        // (groups, channels, outputs): fc1-like, a 3×3 kernel, a plain dense layer, tiny.
        for (groups, channels, outputs) in [(49, 23, 300), (9, 70, 64), (1, 1_000, 513), (4, 3, 1)] {
            let t = InterleavedTranspose(groups: groups, channels: channels, columns: outputs, name: "test")
            let count = groups * channels * outputs
            let canonical = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
            var other = canonical.map { $0 + Float.random(in: -1e-3...1e-3, using: &generator) }
            for _ in 0..<5 { other[Int.random(in: 0..<count, using: &generator)] *= 3 }
            // Keras storage of `canonical`: source[(g * channels + c) * outputs + o] = canonical[o, c * groups + g].
            var stored = [Float](repeating: 0, count: count)
            for o in 0..<outputs { for c in 0..<channels { for g in 0..<groups {
                stored[(g * channels + c) * outputs + o] = canonical[o * channels * groups + c * groups + g]
            } } }
            let transposed = tensor(stored, .interleavedTranspose(t), shape: [outputs, channels * groups])
            for withNaN in [false, true] {
                var values = other
                if withNaN { values[count / 2] = .nan }
                let plain = tensor(values, .identity, shape: [outputs, channels * groups])
                for (a, b) in [(transposed, plain), (plain, transposed)] {
                    let (va, vb) = (try CanonicalValues(a), try CanonicalValues(b))
                    let tiled = try XCTUnwrap(ModelDiff.tiledStatistics(va, vb))
                    let rows = try ModelDiff.blockStatistics(va, vb)
                    let label = "\(groups)x\(channels)x\(outputs), NaN \(withNaN)"
                    XCTAssertEqual(tiled.maxAbsolute, rows.maxAbsolute, label)
                    XCTAssertEqual(tiled.scale, rows.scale, label)
                    XCTAssertEqual(tiled.nonFinite, rows.nonFinite, label)
                    XCTAssertEqual(tiled.nonFinite, withNaN ? 1 : 0, label)
                    for (x, y) in [(tiled.dot, rows.dot), (tiled.normA, rows.normA), (tiled.normB, rows.normB)] {
                        XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(y)), label)
                    }
                }
            }
        }
    }

    private func tensor(_ values: [Float], _ conversion: LayoutConversion, shape: [Int]) -> PlannedTensor {
        let bytes = values.withUnsafeBytes { [UInt8]($0) }
        return PlannedTensor(name: "w", sourceName: "w", sourceDType: .float32, sourceShape: shape, dtype: .float32, shape: shape,
                             layout: .outIn, conversion: conversion, data: TensorData(bytes: bytes))
    }
}
