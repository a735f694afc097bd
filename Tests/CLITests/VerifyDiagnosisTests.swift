import Foundation
import TestSupport
import FileIO
import VGGCore
import XCTest

/// `verify --logits`, `--explain` and `--layers` on the samples' golden files from the frameworks.
final class VerifyDiagnosisTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func golden(_ name: String) -> String { Samples.path("golden/\(name).npy") }

    /// Keras's model ends in softmax, PyTorch's golden is logits: the failure hints, --explain names
    /// softmax and its fix, and --logits passes.
    func testSoftmaxAgainstLogitsIsExplainedAndFixedByLogits() throws {
        let model = Samples.path("vgg_small_keras3.keras"), input = golden("vgg_small_input_nchw")
        let plain = try vggconv("verify", model, "--input", input, "--golden", golden("vgg_small_torch_logits"))
        XCTAssertEqual(plain.status, 1)
        XCTAssertTrue(plain.stdout.contains("hint: the model ends in softmax and the golden looks like logits: try --logits"), plain.stdout)
        let explained = try vggconv("verify", model, "--input", input, "--golden", golden("vgg_small_torch_logits"), "--explain")
        XCTAssertEqual(explained.status, 1)
        XCTAssertTrue(explained.stdout.contains("PASS  the golden holds logits but the model ends in softmax"), explained.stdout)
        XCTAssertTrue(explained.stdout.contains("fix: pass --logits, or compare the model's logits"), explained.stdout)
        let fixed = try vggconv("verify", model, "--input", input, "--golden", golden("vgg_small_torch_logits"), "--logits")
        XCTAssertEqual(fixed.status, 0, fixed.stdout)
        // run --logits writes the logits themselves.
        let out = scratch.file("logits.npy")
        XCTAssertEqual(try vggconv("run", model, "--input", input, "--logits", "-o", out).status, 0)
        let logits = try NpyArray.read(path: out), expected = try NpyArray.read(path: golden("vgg_small_torch_logits"))
        XCTAssertEqual(logits.shape, expected.shape)
    }

    /// Models stored in float16 and bfloat16 (written by PyTorch from the float32 model) against the float32
    /// logits: the failure names the dtype and a tolerance, and that tolerance passes; a float32 model with a
    /// real error of the same size gets no such hint.
    func testSixteenBitWeightsAgainstFloat32GoldensGetATolerance() throws {
        let input = golden("vgg_small_input_nchw"), logits = golden("vgg_small_torch_logits")
        for (file, dtype) in [("torch/vgg_small_fp16.pth", "float16"), ("torch/vgg_small_bf16.pth", "bfloat16")] {
            let plain = try vggconv("verify", Samples.path(file), "--input", input, "--golden", logits)
            XCTAssertEqual(plain.status, 1, plain.stdout)
            let hint = plain.stdout.split(separator: "\n").first { $0.hasPrefix("hint: the model stores \(dtype) weights") }
            let rtol = hint.flatMap { $0.split(separator: " ").last.map(String.init) }
            XCTAssertNotNil(rtol, plain.stdout)
            let relaxed = try vggconv("verify", Samples.path(file), "--input", input, "--golden", logits, "--rtol", rtol ?? "")
            XCTAssertEqual(relaxed.status, 0, relaxed.stdout + relaxed.stderr)
        }
        // The same size of error on a float32 model: the golden scaled by 1.002 (top-5 kept).
        let exact = try NpyArray.read(path: logits)
        let scaled = scratch.file("scaled.npy")
        let values = exact.bytes.withUnsafeBytes { $0.bindMemory(to: Float.self).map { $0 * 1.002 } }
        try NpyArray(dtype: .float32, shape: exact.shape, bytes: values.withUnsafeBytes { Array($0) }).write(to: scaled)
        let wrong = try vggconv("verify", Samples.path("vgg_small.pth"), "--input", input, "--golden", scaled)
        XCTAssertEqual(wrong.status, 1, wrong.stdout)
        XCTAssertFalse(wrong.stdout.contains("hint: the model stores"), wrong.stdout)
    }

    /// An input reshaped (not transposed) from N,H,W,C and one with its channels reversed: --explain
    /// names each cause alone.
    func testInputLayoutAndChannelOrderAreNamed() throws {
        let nhwc = try NpyArray.read(path: golden("vgg_small_input_nhwc"))
        let reshaped = scratch.file("reshaped.npy")  // the same bytes, declared (N, C, H, W)
        try NpyArray(dtype: nhwc.dtype, shape: [nhwc.shape[0], nhwc.shape[3], nhwc.shape[1], nhwc.shape[2]], bytes: nhwc.bytes).write(to: reshaped)
        let layout = try vggconv("verify", Samples.path("vgg_small.pth"), "--input", reshaped, "--golden", golden("vgg_small_torch_logits"), "--explain")
        XCTAssertEqual(layout.status, 1)
        let passing = layout.stdout.split(separator: "\n").filter { $0.hasPrefix("  PASS") }
        XCTAssertEqual(passing.count, 1, layout.stdout)
        XCTAssertTrue(passing.first?.contains("reshaped instead of transposed") == true, layout.stdout)

        let nchw = try NpyArray.read(path: golden("vgg_bn_input_nchw"))
        var values = nchw.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let plane = nchw.shape[2] * nchw.shape[3]
        for n in 0..<nchw.shape[0] {
            let base = n * 3 * plane
            for i in 0..<plane { values.swapAt(base + i, base + 2 * plane + i) }
        }
        let bgr = scratch.file("bgr.npy")
        try NpyArray(dtype: .float32, shape: nchw.shape, bytes: values.withUnsafeBytes { Array($0) }).write(to: bgr)
        let channels = try vggconv("verify", Samples.path("vgg_bn.pth"), "--input", bgr, "--golden", golden("vgg_bn_torch_logits"), "--explain")
        XCTAssertEqual(channels.status, 1)
        XCTAssertTrue(channels.stdout.contains("PASS  the input's channels are in the other order (RGB vs BGR)"), channels.stdout)
    }

    /// Per-layer goldens from PyTorch's forward hooks and Keras's sub-models: every layer agrees with the
    /// same file's model; against a model with one slip, the first diverging layer is the slipped one.
    func testLayerByLayerComparisonFindsTheFirstDivergence() throws {
        for model in ["vgg_small", "vgg_bn"] {
            let input = golden("\(model)_input_nchw")
            for (file, npz) in [("\(model).pth", "\(model)_torch"), ("\(model)_tfkeras_model.h5", "\(model)_keras")] {
                let result = try vggconv("verify", Samples.path(file), "--input", input, "--layers", Samples.path("layers/\(npz).npz"))
                XCTAssertEqual(result.status, 0, "\(file): \(result.stdout)")
                XCTAssertTrue(result.stdout.contains("PASS: \(model == "vgg_small" ? 18 : 8) layers"), result.stdout)
            }
        }
        let slipped = try vggconv("verify", Samples.path("slips/vgg_small_conv_io_swapped.pth"), "--input", golden("vgg_small_input_nchw"),
                                  "--layers", Samples.path("layers/vgg_small_torch.npz"))
        XCTAssertEqual(slipped.status, 1)
        XCTAssertTrue(slipped.stdout.contains("FAIL: first divergence at layer block1_conv2 (golden key 2)"), slipped.stdout)
        let unmatched = try vggconv("verify", Samples.path("vgg_small_keras3.keras"), "--input", golden("vgg_small_input_nchw"),
                                    "--layers", Samples.path("layers/vgg_small_torch.npz"))
        XCTAssertEqual(unmatched.status, 1)
        XCTAssertTrue(unmatched.stdout.contains("keys must be this model's layer names"), unmatched.stdout)
    }

    /// A golden of the wrong shape is bad input (exit 2, both shapes named); NaN goldens fail.
    func testWrongShapeAndNonFiniteGoldens() throws {
        let model = Samples.path("vgg_small.pth"), input = golden("vgg_small_input_nchw")
        let wrong = try vggconv("verify", model, "--input", input, "--golden", golden("vgg_small_input_nchw"))
        XCTAssertEqual(wrong.status, 2)
        XCTAssertTrue(wrong.stderr.contains("golden has shape [2, 3, 32, 32] but the model's output has shape [2, 10]"), wrong.stderr)
        let logits = try NpyArray.read(path: golden("vgg_small_torch_logits"))
        var values = logits.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        values[3] = .nan
        let nan = scratch.file("nan.npy")
        try NpyArray(dtype: .float32, shape: logits.shape, bytes: values.withUnsafeBytes { Array($0) }).write(to: nan)
        let result = try vggconv("verify", model, "--input", input, "--golden", nan)
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stdout.contains("NaN or infinite"), result.stdout)
        let neither = try vggconv("verify", model, "--input", input)
        XCTAssertEqual(neither.status, 2)
    }
}
