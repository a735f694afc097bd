import Foundation
import TestSupport
import FileIO
import XCTest

/// Every command on the ONNX files the real exporters wrote (samples/onnx, samples/generate_onnx.py),
/// against onnxruntime's own outputs on the same inputs.
final class OnnxCommandTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    struct Entry: Decodable { let model: String; let input: String; let layout: String }
    static let files: [String: Entry] = {
        struct Manifest: Decodable { let files: [String: Entry] }
        let data = try! Data(contentsOf: URL(fileURLWithPath: Samples.path("onnx/manifest.json")))
        return try! JSONDecoder().decode(Manifest.self, from: data).files
    }()

    /// `layoutFlag` false: the NHWC graphs' input layout is left to the default the file records.
    private func verify(_ model: String, _ entry: Entry, golden: String, layoutFlag: Bool = true,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runProcess(vggconvExecutable, ["verify", model, "--input", Samples.path(entry.input), "--golden", golden]
                                    + (entry.layout == "nhwc" && layoutFlag ? ["--input-layout", "nhwc"] : []))
        XCTAssertEqual(result.status, 0, "\(model): \(result.stdout) \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stdout.contains("PASS"), result.stdout, file: file, line: line)
    }

    /// torch.onnx at opsets 7 to 17, BatchNormalization kept or folded, Flatten or the view() chain,
    /// external data, tf2onnx's NHWC graphs: each reproduces onnxruntime within 1e-4 x max, top-5 identical.
    /// The NHWC graphs take their N,H,W,C input without --input-layout: the file records it.
    func testEveryExportReproducesOnnxRuntime() throws {
        XCTAssertGreaterThanOrEqual(Self.files.count, 20)
        for (file, entry) in Self.files.sorted(by: { $0.key < $1.key }) {
            try verify(Samples.path("onnx/\(file)"), entry, golden: Samples.path("onnx/\(file).ort_output.npy"), layoutFlag: false)
        }
    }

    /// Converted to PyTorch and Keras files, the models still reproduce onnxruntime's outputs.
    func testConversionsToEveryFormatReproduceOnnxRuntime() throws {
        for file in ["vgg_bn_torch_opset7_bn_nodes.onnx", "vgg_small_torch_view_opset17.onnx", "vgg_small_tf2onnx_opset13.onnx",
                     "tl_features_tf2onnx_opset13.onnx"] {
            let entry = try XCTUnwrap(Self.files[file])
            // A state_dict records no layer without weights after the last one: a features-only base's pool is not in it.
            for ext in ["pth", "h5", "keras", "safetensors", "onnx"] where !(entry.model == "tl_features" && ["pth", "safetensors"].contains(ext)) {
                let output = scratch.file("\(file)-\(ext).\(ext)")
                let conversion = try vggconv("convert", Samples.path("onnx/\(file)"), "-o", output)
                XCTAssertEqual(conversion.status, 0, "\(file) -> .\(ext): \(conversion.stderr)")
                // A state_dict records no final softmax: its outputs are the logits, compared as such (vggconv's
                // safetensors records the architecture in its metadata, softmax included).
                let golden = ext == "pth" ? logits(of: file, entry) : Samples.path("onnx/\(file).ort_output.npy")
                try verify(output, entry, golden: golden)
            }
        }
    }

    /// The logits of a model whose ONNX graph ends in softmax: the framework's, from the generator.
    private func logits(of file: String, _ entry: Entry) -> String { Samples.path("golden/\(entry.model)_torch_logits.npy") }

    /// An ONNX export and the .pth it came from hold the same network: diff finds them identical; an
    /// .onnx written from an .onnx holds the same tensors.
    func testDiffAgainstThePthSourceAndRoundTrip() throws {
        let diff = try vggconv("diff", Samples.path("onnx/vgg_small_torch_opset13.onnx"), Samples.path("vgg_small.pth"))
        XCTAssertEqual(diff.status, 0, diff.stdout + diff.stderr)
        XCTAssertTrue(diff.stdout.contains("IDENTICAL"), diff.stdout)
        let again = scratch.file("again.onnx")
        XCTAssertEqual(try vggconv("convert", Samples.path("onnx/vgg_bn_torch_opset7.onnx"), "-o", again).status, 0)
        let round = try vggconv("diff", again, Samples.path("onnx/vgg_bn_torch_opset7.onnx"), "--atol", "0", "--rtol", "0")
        XCTAssertEqual(round.status, 0, round.stdout + round.stderr)
        XCTAssertTrue(round.stdout.contains("IDENTICAL"), round.stdout)
    }

    /// inspect lists initializers with their offsets, the producer, the opset and the op census;
    /// summary gives the Keras-style rows and totals.
    func testInspectAndSummary() throws {
        let inspect = try vggconv("inspect", Samples.path("onnx/vgg_small_torch_view_opset11.onnx"), "--json")
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        let tensors = try XCTUnwrap(object["tensors"] as? [[String: Any]])
        XCTAssertTrue(tensors.contains { $0["name"] as? String == "block1_conv1.weight" && $0["offset"] is Int })
        let facts = Dictionary(uniqueKeysWithValues: (object["non_tensors"] as? [[String: String]] ?? []).map { ($0["name"] ?? "", $0["value"] ?? "") })
        XCTAssertEqual(facts["opset"], "11")
        XCTAssertTrue(facts["ops"]?.contains("Conv 11") == true, "\(facts)")
        XCTAssertTrue(facts["producer"]?.hasPrefix("pytorch") == true, "\(facts)")
        let summary = try vggconv("summary", Samples.path("onnx/vgg_small_tf2onnx_opset13.onnx"))
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertTrue(summary.stdout.contains("Total params: \(Samples.models["vgg_small"]!.paramsTotal.formatted(.number.grouping(.automatic)))"), summary.stdout)
    }

    /// Photos go through an ONNX model as through any other: predict matches predict on its .pth.
    func testPredictOnOnnxMatchesThePth() throws {
        let onnx = try vggconv("predict", Samples.path("onnx/vgg_small_torch_opset13.onnx"), Samples.path("images/rocket.jpg"), "--json")
        let pth = try vggconv("predict", Samples.path("vgg_small.pth"), Samples.path("images/rocket.jpg"), "--json")
        XCTAssertEqual(onnx.status, 0, onnx.stderr)
        XCTAssertEqual(onnx.stdout, pth.stdout)
    }
}
