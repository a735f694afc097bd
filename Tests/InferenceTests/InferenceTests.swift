import Foundation
import Inference
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// Converted models must reproduce the outputs Keras and PyTorch computed themselves
/// (samples/golden/, written by the generator): |error| <= 1e-4 x max|output| and identical top-5.
final class InferenceTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func golden(_ name: String) -> String { Samples.path("golden/\(name).npy") }

    private func native(_ file: String, config: String? = nil) throws -> String {
        let output = scratch.file(file.replacingOccurrences(of: "/", with: "_") + ".vggw")
        if file.hasSuffix(".pth") {
            _ = try Converter.torchToNative(input: Samples.path(file), options: ConversionOptions(output: output))
        } else {
            _ = try Converter.kerasToNative(input: Samples.path(file), options: ConversionOptions(output: output, configPath: config.map(Samples.path)))
        }
        return output
    }

    private func verify(_ model: String, input: String, layout: TensorLayoutChoice, golden: String, rtol: Float = 1e-4,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let output = try Prediction.run(model: model, input: self.golden(input), layout: layout)
        let result = try Verification.compare(output: output, golden: try NpyArray.read(path: self.golden(golden)),
                                              goldenPath: golden, atol: 0, rtol: rtol)
        XCTAssertTrue(result.passed, "\(model) vs \(golden):\n\(result.report)", file: file, line: line)
    }

    func testEveryKerasFlavourReproducesKerasOutputs() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"] {
            var flavours: [(String, String?)] = [("_tfkeras_model.h5", nil), ("_keras3_model.h5", nil), ("_keras3.keras", nil),
                                                 ("_keras3.weights.h5", "_keras3_config.json")]
            // A weights-only file records no BatchNormalization epsilon (vgg_bn uses 1e-5, Keras's default is 1e-3).
            flavours.append(("_tfkeras_weights.h5", model == "vgg_bn" ? "_tfkeras_config.json" : nil))
            if model != "vgg_bn" { flavours.append(("_keras1_style.h5", nil)) }
            for (suffix, config) in flavours {
                try verify(try native(model + suffix, config: config.map { model + $0 }), input: "\(model)_input_nhwc",
                           layout: .nhwc, golden: "\(model)_keras_output")
            }
        }
    }

    func testEveryPyTorchFlavourReproducesPyTorchOutputs() throws {
        for (file, model) in [("vgg_small.pth", "vgg_small"), ("vgg_bn.pth", "vgg_bn"), ("vgg_dropout.pth", "vgg_dropout"),
                              ("vgg_notop.pth", "vgg_notop"), ("torch/vgg_small_legacy.pth", "vgg_small"),
                              ("torch/vgg_bn_legacy.pth", "vgg_bn"), ("torch/vgg_small_checkpoint.pth", "vgg_small"),
                              ("torch/vgg_small_tutorial_checkpoint.pth", "vgg_small")] {
            try verify(try native(file), input: "\(model)_input_nchw", layout: .nchw, golden: "\(model)_torch_logits")
        }
        // PyTorch's ImageNet example: a torchvision-style VGG whose features DataParallel wraps
        // (`features.module.0.weight`), in a checkpoint with a 0-d `best_acc1` tensor beside the state_dict.
        try verify(try native("torch/vgg_imagenet_example_checkpoint.pth"), input: "vgg_imagenet_example_input_nchw",
                   layout: .nchw, golden: "vgg_imagenet_example_logits")
    }

    /// A float16 model's dense layers read their weights as stored (the kernel widens them in registers)
    /// and give what the same values widened to float32 at conversion give, at every batch path (one
    /// sample, a small batch, and more samples than one kernel call takes).
    func testHalfPrecisionDenseWeightsRunAsStored() throws {
        let half = try native("torch/vgg_small_fp16.pth")
        let widened = scratch.file("vgg_small_fp16_as_f32.vggw")
        _ = try Converter.torchToNative(input: Samples.path("torch/vgg_small_fp16.pth"), options: ConversionOptions(output: widened, dtype: .float32))
        let halfFile = try NativeFile(path: half), floatFile = try NativeFile(path: widened)
        XCTAssertTrue(halfFile.header.tensors.contains { $0.dtype == .float16 })
        XCTAssertFalse(floatFile.header.tensors.contains { $0.dtype == .float16 })
        let (a, b) = (try InferenceEngine(file: halfFile), try InferenceEngine(file: floatFile))
        let size = halfFile.header.architecture.inputShape.reduce(1, *)
        var generator = SystemRandomNumberGenerator()
        for batch in [1, 3, 11] {
            let input = (0..<(batch * size)).map { _ in Float.random(in: -1...1, using: &generator) }
            let (fromHalves, fromFloats) = (a.run(input, batch: batch), b.run(input, batch: batch))
            let scale = fromFloats.map(abs).max() ?? 0
            let error = zip(fromHalves, fromFloats).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertGreaterThan(scale, 0)
            XCTAssertLessThanOrEqual(error, 1e-5 * scale, "batch \(batch)")
        }
        // And the float16 path is the one taken: `bench --layers` names it.
        let bench = try runProcess(vggconvExecutable, ["bench", half, "--iterations", "1", "--layers"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        XCTAssertTrue(bench.stdout.contains("(GEMM, float16 weights)"), bench.stdout)
    }

    func testHalfPrecisionWeightsAreWidenedAndStayClose() throws {
        // The goldens come from the float32 weights; rounding them to 16 bits costs ~1e-3 relative.
        try verify(try native("torch/vgg_small_fp16.pth"), input: "vgg_small_input_nchw", layout: .nchw, golden: "vgg_small_torch_logits", rtol: 1e-2)
        try verify(try native("torch/vgg_small_bf16.pth"), input: "vgg_small_input_nchw", layout: .nchw, golden: "vgg_small_torch_logits", rtol: 5e-2)
    }

    func testKerasFileReproducesPyTorchOutputsOnNCHWInput() throws {
        // Same weights, PyTorch's input layout: only right if fc1's rows were reordered from HWC to CHW.
        for model in ["vgg_small", "vgg_bn", "vgg_dropout"] {
            try verify(try native(model + "_keras3.keras"), input: "\(model)_input_nchw", layout: .nchw, golden: "\(model)_torch_output")
        }
    }

    func testSamePaddingPoolsActivationLayersAndNormalizationAfterDense() throws {
        try verify(try native("generic_tfkeras_weights.h5", config: "generic_tfkeras_config.json"), input: "generic_input_nhwc",
                   layout: .nhwc, golden: "generic_keras_output")
    }

    func testVerifyCommandPassesFailsAndRefuses() throws {
        let model = try native("vgg_small_keras3.keras")
        let pass = try vggconv("verify", model, "--input", golden("vgg_small_input_nhwc"), "--input-layout", "nhwc",
                               "--golden", golden("vgg_small_keras_output"))
        XCTAssertEqual(pass.status, 0, pass.stdout + pass.stderr)
        XCTAssertTrue(pass.stdout.contains("PASS: 2 samples"), pass.stdout)

        // A deliberately wrong golden: the two samples' outputs swapped.
        let right = try NpyArray.read(path: golden("vgg_small_keras_output"))
        let half = right.bytes.count / 2
        let swapped = NpyArray(dtype: right.dtype, shape: right.shape, bytes: Array(right.bytes[half...] + right.bytes[..<half]))
        try swapped.write(to: scratch.file("wrong.npy"))
        let fail = try vggconv("verify", model, "--input", golden("vgg_small_input_nhwc"), "--input-layout", "nhwc",
                               "--golden", scratch.file("wrong.npy"))
        XCTAssertEqual(fail.status, 1, fail.stdout + fail.stderr)
        XCTAssertTrue(fail.stdout.contains("FAIL: 2 of 2 samples differ"), fail.stdout)

        let layout = try vggconv("verify", model, "--input", golden("vgg_small_input_nhwc"), "--golden", golden("vgg_small_keras_output"))
        XCTAssertEqual(layout.status, 2)
        XCTAssertTrue(layout.stderr.contains("it looks NHWC (channels last); pass --input-layout nhwc"), layout.stderr)

        let ints = NpyArray(dtype: .int64, shape: [1, 3, 32, 32], bytes: [UInt8](repeating: 0, count: 3 * 32 * 32 * 8))
        try ints.write(to: scratch.file("ints.npy"))
        let dtype = try vggconv("run", model, "--input", scratch.file("ints.npy"), "-o", scratch.file("out.npy"))
        XCTAssertEqual(dtype.status, 2)
        XCTAssertTrue(dtype.stderr.contains("dtype int64 is not float32 or float64"), dtype.stderr)

        try Data("not numpy".utf8).write(to: URL(fileURLWithPath: scratch.file("bad.npy")))
        let unreadable = try vggconv("run", model, "--input", scratch.file("bad.npy"), "-o", scratch.file("out.npy"))
        XCTAssertEqual(unreadable.status, 2)
        XCTAssertTrue(unreadable.stderr.contains("missing the \\x93NUMPY magic"), unreadable.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("out.npy")))
    }

    func testRunWritesNumpyReadableOutputAndBenchReportsMedian() throws {
        let model = try native("vgg_notop_keras3.keras")
        let run = try vggconv("run", model, "--input", golden("vgg_notop_input_nhwc"), "--input-layout", "nhwc", "-o", scratch.file("y.npy"))
        XCTAssertEqual(run.status, 0, run.stderr)
        let check = try python(["-c", """
            import numpy as np
            y = np.load('\(scratch.file("y.npy"))'); g = np.load('\(golden("vgg_notop_keras_output"))')
            print(y.shape == g.shape, float(np.abs(y - g).max()) <= 1e-4 * float(np.abs(g).max()))
            """])
        XCTAssertEqual(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "True True", check.stderr)
        let bench = try vggconv("bench", model, "--batch", "2", "--iterations", "3")
        XCTAssertEqual(bench.status, 0, bench.stderr)
        XCTAssertTrue(bench.stdout.contains("median: "), bench.stdout)
    }

    func testBenchLayersTimesEveryStepAndNamesItsLayers() throws {
        let model = try native("vgg_bn.pth")
        let bench = try vggconv("bench", model, "--iterations", "2", "--layers")
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let lines = bench.stdout.split(separator: "\n").map(String.init)
        let steps = lines.filter { $0.contains(" ms ") && $0.contains("%") }
        // BatchNorm and ReLU are folded into their convolutions, so they share the convolution's line.
        XCTAssertTrue(steps.contains { $0.contains("block1_conv1+block1_conv1_bn+re_lu (") }, bench.stdout)
        XCTAssertTrue(steps.contains { $0.hasSuffix("(max pool)") }, bench.stdout)
        XCTAssertTrue(steps.contains { $0.hasSuffix("(GEMM)") }, bench.stdout)
        XCTAssertTrue(lines.last?.contains("median: ") ?? false, bench.stdout)
    }

    /// Winograd tiles that straddle the right and bottom edges, maps smaller than a tile, and output
    /// channel counts (8, 16) that do not fill whole multiply panels, against the im2col path.
    func testFastKernelsMatchIm2colAtEdgeSizes() throws {
        let file = try NativeFile(path: try native("vgg_notop.pth"))
        var generator = SystemRandomNumberGenerator()
        for (height, width) in [(4, 4), (5, 7), (6, 6), (8, 8), (9, 9), (11, 13), (12, 12), (14, 14), (15, 15), (17, 17), (23, 29), (30, 30)] {
            let shape = [3, height, width]
            let fast = try InferenceEngine(file: file, inputShape: shape), direct = try InferenceEngine(file: file, inputShape: shape, fastKernels: false)
            let input = (0..<(2 * 3 * height * width)).map { _ in Float.random(in: -1...1, using: &generator) }
            let (a, b) = (fast.run(input, batch: 2), direct.run(input, batch: 2))
            XCTAssertEqual(a.count, b.count)
            let scale = b.map(abs).max() ?? 0
            let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(scale, 0, "\(height)x\(width)")
            XCTAssertLessThanOrEqual(error, 1e-5 * scale, "\(height)x\(width)")
        }
    }

    /// A max pool after a Winograd convolution runs in its output transform: the same values, bit for bit,
    /// as the pool run on its own, on even and odd maps (an odd map's last row and column are dropped),
    /// at one and several samples; the layer-by-layer path keeps the pool as its own step.
    func testPoolInConvolutionEqualsSeparatePool() throws {
        let file = try NativeFile(path: try native("vgg_notop.pth"))
        var generator = SystemRandomNumberGenerator()
        for (height, width, batch) in [(32, 32, 1), (29, 23, 2), (30, 34, 3), (13, 11, 1)] {
            let shape = [3, height, width]
            let fused = try InferenceEngine(file: file, inputShape: shape)
            let separate = try InferenceEngine(file: file, inputShape: shape, variant: .init(poolsInConvolution: false))
            XCTAssertTrue(fused.stepLabels.contains { $0.hasSuffix("+ max pool)") }, "\(fused.stepLabels)")
            XCTAssertFalse(separate.stepLabels.contains { $0.contains("+ max pool") }, "\(separate.stepLabels)")
            XCTAssertLessThan(fused.stepLabels.count, separate.stepLabels.count)
            let input = (0..<(batch * 3 * height * width)).map { _ in Float.random(in: -1...1, using: &generator) }
            let (a, b) = (fused.run(input, batch: batch), separate.run(input, batch: batch))
            XCTAssertEqual(fused.outputShape, separate.outputShape)
            XCTAssertGreaterThan(b.map(abs).max() ?? 0, 0)
            XCTAssertTrue(a == b, "\(height)x\(width): max |difference| \(zip(a, b).map { abs($0 - $1) }.max() ?? 0)")
        }
    }

    /// However many threads split the work (panels and tiles over cores), every output is the same bit for
    /// bit: each element is summed in one order.
    func testOutputsDoNotDependOnTheThreadCount() throws {
        let model = try native("vgg_bn.pth")
        var outputs: [Data] = []
        for threads in ["1", "2", "3", "16"] {
            let path = scratch.file("threads\(threads).npy")
            let result = try vggconv("run", model, "--input", golden("vgg_bn_input_nchw"), "-o", path, "--threads", threads)
            XCTAssertEqual(result.status, 0, result.stderr)
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        XCTAssertEqual(Set(outputs).count, 1)
    }

    /// Small maps run for a chunk of samples together, their Winograd tiles in shared blocks: 63 samples of
    /// 28 × 28 (49 tiles each, so groups of 8 tiles, and the boundary between the 8-channel layer's two
    /// blocks at tile 1,544, fall inside an image) give each sample's output bit for bit as when it runs alone.
    func testBatchedSmallMapsEqualOneSampleAtATime() throws {
        let file = try NativeFile(path: try native("vgg_notop.pth"))
        let shape = [3, 28, 28], samples = 63, size = shape.reduce(1, *)
        let engine = try InferenceEngine(file: file, inputShape: shape)
        var generator = SystemRandomNumberGenerator()
        let input = (0..<(samples * size)).map { _ in Float.random(in: -1...1, using: &generator) }
        let batched = engine.run(input, batch: samples)
        let per = batched.count / samples
        XCTAssertEqual(batched.count, samples * per)
        for n in [0, 1, 31, 32, 62] {
            let alone = engine.run(Array(input[(n * size)..<((n + 1) * size)]), batch: 1)
            let together = Array(batched[(n * per)..<((n + 1) * per)])
            let largest = zip(alone, together).map { abs($0 - $1) }.max() ?? 0
            XCTAssertTrue(alone == together, "sample \(n): max |difference| \(largest)")
        }
    }

    /// Every kernel variant this CPU has (AVX-512, chosen by default where the CPU has it; AVX2 + FMA; the
    /// portable build, chosen on CPUs without AVX2) reproduces the frameworks' outputs; the AVX-512 and
    /// AVX2 multiplies sum in the same order, so their outputs are bit-identical.
    func testEveryKernelVariantReproducesGoldens() throws {
        let model = try native("vgg_bn.pth")
        var outputs: [String: Data] = [:]
        for choice in ["best", "avx2", "generic"] {
            let result = try runProcess("/usr/bin/env", ["VGGCONV_SIMD=\(choice)", vggconvExecutable, "verify", model,
                                                         "--input", golden("vgg_bn_input_nchw"), "--golden", golden("vgg_bn_torch_logits")])
            XCTAssertEqual(result.status, 0, "\(choice): " + result.stdout + result.stderr)
            XCTAssertTrue(result.stdout.contains("PASS"), result.stdout)
            let path = scratch.file("\(choice).npy")
            XCTAssertEqual(try runProcess("/usr/bin/env", ["VGGCONV_SIMD=\(choice)", vggconvExecutable, "run", model,
                                                          "--input", golden("vgg_bn_input_nchw"), "-o", path]).status, 0)
            outputs[choice] = try Data(contentsOf: URL(fileURLWithPath: path))
        }
        XCTAssertEqual(outputs["best"], outputs["avx2"], "the widest kernels differ from the AVX2 ones")
        // bench says which kernels ran, and how many threads.
        for (choice, expected) in [("generic", "generic"), ("avx2", nil)] {
            let bench = try runProcess("/usr/bin/env", ["VGGCONV_SIMD=\(choice)", vggconvExecutable, "bench", model, "--iterations", "1",
                                                        "--threads", "1", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any]
            let kernels = report?["kernels"] as? String
            XCTAssertTrue(expected.map { kernels == $0 } ?? ["avx2", "generic"].contains(kernels ?? ""), "\(choice): \(bench.stdout)")
            XCTAssertEqual(report?["threads"] as? Int, 1)
            XCTAssertGreaterThan(report?["load_ms"] as? Double ?? 0, 0, bench.stdout)  // opening and compiling, timed apart
        }
        // The portable half-precision dense kernel (the goldens are float32: rounding the weights costs ~1e-3).
        let half = try runProcess("/usr/bin/env", ["VGGCONV_SIMD=generic", vggconvExecutable, "verify", try native("torch/vgg_small_fp16.pth"),
                                                   "--input", golden("vgg_small_input_nchw"), "--golden", golden("vgg_small_torch_logits"),
                                                   "--rtol", "1e-2"])
        XCTAssertEqual(half.status, 0, half.stdout + half.stderr)
        XCTAssertTrue(half.stdout.contains("PASS"), half.stdout)
    }
}
