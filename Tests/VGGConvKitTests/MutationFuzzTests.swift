import Foundation
import Imaging
import Inference
import KerasFormat
import TestSupport
import TorchFormat
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// Seeded mutations (byte flips, truncations, dense edits near the metadata) of a real file of every
/// format, read the way `inspect` and `summary` read them, in this process: a crash or hang ends the
/// test run. Each outcome must be a success or one of vggconv's own errors (never a decoding or
/// system error leaking through), and both outcomes must occur for every format. The seed is fixed,
/// so a failure reproduces. The libFuzzer harnesses (`make fuzz`) search far deeper.
final class MutationFuzzTests: XCTestCase {
    struct Mutator {
        var random: SplitMix
        init(seed: UInt64) { random = SplitMix(seed: seed) }
        mutating func next() -> UInt64 { random.next() }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

        /// One of three mutations of `data`; `hot` bytes at the start hold the metadata.
        mutating func mutate(_ data: Data, hot: Int) -> Data {
            var data = data
            switch below(3) {
            case 0: return data.prefix(below(data.count))
            case 1:
                for _ in 0..<(1 + below(8)) { data[below(data.count)] = UInt8(truncatingIfNeeded: next()) }
            default:
                for _ in 0..<(1 + below(4)) { data[below(min(hot, data.count))] = UInt8(truncatingIfNeeded: next()) }
            }
            return data
        }
    }

    static func isOwnError(_ error: Error) -> Bool {
        error is VGGError || error is NativeFormatError || error is TorchFormatError || error is KerasFormatError || error is HDF5Error
            || error is InferenceError || error is RequestError || error is LayerSchema.Problem
    }

    /// Mutates `sample` (a path under samples/, or an absolute path) `iterations` times. `checksummed`
    /// formats (PNG: a CRC per chunk) refuse every mutation, so none need open.
    func fuzz(_ sample: String, hot: Int, iterations: Int, seed: UInt64, extension ext: String, checksummed: Bool = false,
              read: (String) throws -> Void) throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let source = sample.hasPrefix("/") ? sample : Samples.path(sample)
        let original = try Data(contentsOf: URL(fileURLWithPath: source))
        let path = scratch.file("fuzz.\(ext)")
        try original.write(to: URL(fileURLWithPath: path))
        XCTAssertNoThrow(try read(path), "the unmutated \(sample) must read")
        var mutator = Mutator(seed: seed)
        var opened = 0, refused = 0
        for iteration in 0..<iterations {
            try mutator.mutate(original, hot: hot).write(to: URL(fileURLWithPath: path))
            let start = Date()
            do {
                try read(path)
                opened += 1
            } catch {
                refused += 1
                XCTAssertTrue(Self.isOwnError(error), "\(sample) mutation \(iteration): foreign error \(type(of: error)): \(error)")
            }
            // A hang detector, not a speed target (benchmarks measure speed): generous, so a loaded
            // machine (a build beside the tests) does not fail it; libhdf5's child has its own 3 s alarm.
            XCTAssertLessThan(Date().timeIntervalSince(start), 10, "\(sample) mutation \(iteration) took too long")
        }
        if !checksummed { XCTAssertGreaterThan(opened, 0, "\(sample): some mutations (in tensor data) must still open") }
        XCTAssertGreaterThan(refused, iterations / 10, "\(sample): damage must be detected")
    }

    func inspectAndSummarize(_ path: String) throws {
        _ = try TensorInventory.of(path: path)
        _ = try Summarizer.summary(path: path)
    }

    func testKerasHDF5() throws {
        try fuzz("vgg_bn_tfkeras_model.h5", hot: 8_192, iterations: 400, seed: 1, extension: "h5", read: inspectAndSummarize)
    }

    func testKerasArchive() throws {
        try fuzz("vgg_notop_keras3.keras", hot: 4_096, iterations: 300, seed: 2, extension: "keras", read: inspectAndSummarize)
    }

    func testTorchZipAndLegacy() throws {
        try fuzz("vgg_bn.pth", hot: 2_048, iterations: 600, seed: 3, extension: "pth", read: inspectAndSummarize)
        try fuzz("torch/vgg_bn_legacy.pth", hot: 2_048, iterations: 600, seed: 4, extension: "pth", read: inspectAndSummarize)
        try fuzz("torch/nested_views_legacy.pth", hot: 1_024, iterations: 300, seed: 5, extension: "pth", read: { _ = try TensorInventory.of(path: $0) })
    }

    func testNative() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let model = scratch.file("model.vggw")
        XCTAssertEqual(try vggconv("keras2native", Samples.path("vgg_bn_tfkeras_model.h5"), "-o", model).status, 0)
        try fuzz(model, hot: 4_096, iterations: 600, seed: 6, extension: "vggw") { path in
            try self.inspectAndSummarize(path)
            _ = try InferenceEngine(file: try NativeFile(path: path))
        }
    }

    func testSafetensors() throws {
        try fuzz("timm_vgg_small.safetensors", hot: 1_024, iterations: 600, seed: 8, extension: "safetensors", read: inspectAndSummarize)
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let own = scratch.file("own.safetensors")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_bn.pth"), "-o", own).status, 0)
        try fuzz(own, hot: 4_096, iterations: 600, seed: 9, extension: "safetensors", read: inspectAndSummarize)
    }

    /// Photos: libjpeg and libpng run in this process, so their errors (longjmp) must become one error.
    func testImages() throws {
        try fuzz("images/rocket.jpg", hot: 2_048, iterations: 300, seed: 10, extension: "jpg") { _ = try ImageDecoder.decode(path: $0) }
        try fuzz("images/coffee_palette.png", hot: 1_024, iterations: 300, seed: 11, extension: "png", checksummed: true) {
            _ = try ImageDecoder.decode(path: $0)
        }
        try fuzz("images/hubble_deep_field_small.jpg", hot: 1_024, iterations: 200, seed: 12, extension: "jpg") { _ = try ImageDecoder.decode(path: $0) }
    }

    func testNpy() throws {
        try fuzz("golden/vgg_bn_input_nchw.npy", hot: 128, iterations: 600, seed: 7, extension: "npy") { _ = try readNpy($0) }
    }
}
