import Foundation
import TestSupport
import XCTest

/// `.vggw` files whose JSON header was edited (data and CRCs untouched, offsets re-laid so the container
/// itself stays valid): every command that opens them refuses with exit status 2 and one line, never a
/// signal, because the header is checked against the layer schema before anything sizes a buffer.
final class TamperedNativeTests: XCTestCase {
    var scratch: TemporaryDirectory!
    var model: String!

    override func setUpWithError() throws {
        scratch = TemporaryDirectory()
        model = scratch.file("model.vggw")
        let result = try vggconv("keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", model)
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    override func tearDown() { scratch.remove() }

    /// Rewrites `model` with its header changed by `edit`, shifting tensor offsets by whole alignment
    /// units so that offsets, padding and CRCs stay consistent.
    func tampered(_ name: String, _ edit: (inout [String: Any]) throws -> Void) throws -> String {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        let headerLength = Int(bytes[16..<24].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let oldStart = 24 + headerLength
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes[24..<oldStart]) as? [String: Any])
        try edit(&header)
        var json = try JSONSerialization.data(withJSONObject: header)
        var newStart = (24 + json.count + 63) / 64 * 64
        for _ in 0..<2 {  // offsets are part of the header: lay out until the length settles
            var tensors = try XCTUnwrap(header["tensors"] as? [[String: Any]])
            let originalTensors = try XCTUnwrap(
                (JSONSerialization.jsonObject(with: bytes[24..<oldStart]) as? [String: Any])?["tensors"] as? [[String: Any]])
            for i in tensors.indices { tensors[i]["offset"] = (originalTensors[i]["offset"] as! Int) - oldStart + newStart }
            header["tensors"] = tensors
            json = try JSONSerialization.data(withJSONObject: header)
            newStart = max(newStart, (24 + json.count + 63) / 64 * 64)
        }
        var out = Data(bytes[0..<16])
        withUnsafeBytes(of: UInt64(newStart - 24).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(Data(repeating: 0x20, count: newStart - 24 - json.count))
        out.append(bytes[oldStart...])
        let path = scratch.file(name)
        try out.write(to: URL(fileURLWithPath: path))
        return path
    }

    func layers(_ header: [String: Any]) -> [[String: Any]] {
        (header["architecture"] as! [String: Any])["layers"] as! [[String: Any]]
    }

    func setLayers(_ header: inout [String: Any], _ layers: [[String: Any]]) {
        var architecture = header["architecture"] as! [String: Any]
        architecture["layers"] = layers
        header["architecture"] = architecture
    }

    func assertEveryCommandRefuses(_ path: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let input = Samples.path("golden/vgg_small_input_nchw.npy")
        for arguments in [["inspect", path], ["summary", path], ["run", path, "--input", input, "-o", scratch.file("y.npy")],
                          ["bench", path, "--iterations", "1"]] {
            let (result, _) = try HostileFileTests.runBounded(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments[0]): \(result.stderr)", file: file, line: line)
            XCTAssertTrue(result.stderr.contains(message), "\(arguments[0]): \(result.stderr)", file: file, line: line)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr, file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("y.npy")), file: file, line: line)
    }

    func testTheUntamperedRewriteStillRuns() throws {
        let path = try tampered("same.vggw") { _ in }
        let result = try vggconv("run", path, "--input", Samples.path("golden/vgg_small_input_nchw.npy"), "-o", scratch.file("y.npy"))
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testTensorRelabelledWithTheSameByteCount() throws {
        // float32 (8, 3, 3, 3) and float16 (16, 3, 3, 3) are both 864 bytes.
        let path = try tampered("relabelled.vggw") { header in
            var tensors = header["tensors"] as! [[String: Any]]
            tensors[0]["dtype"] = "float16"
            tensors[0]["shape"] = [16, 3, 3, 3]
            header["tensors"] = tensors
        }
        try assertEveryCommandRefuses(path, "needs [8, 3, 3, 3]")
    }

    /// A nesting scope's class is printed by `summary`: only Keras's model classes pass.
    func testNestingScopeWithAForeignClass() throws {
        let path = try tampered("scope.vggw") { header in
            var layers = self.layers(header)
            layers[0]["scopes"] = [["name": "base", "class_name": "Evil\u{1B}[8m"]]
            self.setLayers(&header, layers)
        }
        try assertEveryCommandRefuses(path, "nesting is at most 16 models")
    }

    /// Activations are one enum (`Activation`) that the schema checks: an unknown name is refused on
    /// open, not met later by the engine or a writer.
    func testUnknownActivation() throws {
        let path = try tampered("activation.vggw") { header in
            var layers = self.layers(header)
            var config = layers[1]["config"] as? [String: Any] ?? [:]
            config["activation"] = "gelu"
            layers[1]["config"] = config
            self.setLayers(&header, layers)
        }
        try assertEveryCommandRefuses(path, "has activation 'gelu', which is not one of linear, relu, sigmoid, tanh, softmax")
    }

    func testOutputShapeChanged() throws {
        let path = try tampered("output_shape.vggw") { header in
            var layers = self.layers(header)
            layers[0]["output_shape"] = [8, 320, 320]
            self.setLayers(&header, layers)
        }
        try assertEveryCommandRefuses(path, "records output shape [8, 320, 320]")
    }

    func testEmptyInputShape() throws {
        let path = try tampered("input_shape.vggw") { header in
            var architecture = header["architecture"] as! [String: Any]
            architecture["input_shape"] = []
            header["architecture"] = architecture
        }
        try assertEveryCommandRefuses(path, "input shape [] is not a (C, H, W) shape")
    }

    /// `model` with `key` of the config of the first layer of `type` (any layer when nil) set to `value`.
    func withConfig(_ name: String, layerType type: String?, _ key: String, _ value: Any) throws -> String {
        try tampered(name) { header in
            var layers = self.layers(header)
            let index = try XCTUnwrap(layers.firstIndex { type == nil || $0["type"] as? String == type })
            var config = layers[index]["config"] as! [String: Any]
            config[key] = value
            layers[index]["config"] = config
            self.setLayers(&header, layers)
        }
    }

    func testHugeUnits() throws {
        try assertEveryCommandRefuses(try withConfig("units.vggw", layerType: "Dense", "units", 1 << 62), "has units 4611686018427387904")
    }

    func testNegativePoolSize() throws {
        try assertEveryCommandRefuses(try withConfig("pool.vggw", layerType: "MaxPooling2D", "pool_size", [-2, -2]), "pool_size [-2, -2]")
    }

    func testEmptyKernelSize() throws {
        try assertEveryCommandRefuses(try withConfig("kernel.vggw", layerType: nil, "kernel_size", [Int]()), "kernel_size []")
    }

    func testHugeStrides() throws {
        try assertEveryCommandRefuses(try withConfig("strides.vggw", layerType: nil, "strides", [Int.max, Int.max]), "strides")
    }

    func testLayoutFieldCrossChecked() throws {
        let path = try tampered("layout.vggw") { header in
            var layout = header["layout"] as! [String: Any]
            layout["conv_kernel"] = "HWIO"
            header["layout"] = layout
        }
        try assertEveryCommandRefuses(path, "declares layout HWIO")
    }

    func testTensorOfNoLayer() throws {
        let path = try tampered("stray.vggw") { header in
            var layers = self.layers(header)
            layers[0]["parameters"] = ["block1_conv1.weight"]
            self.setLayers(&header, layers)
        }
        try assertEveryCommandRefuses(path, "belongs to no layer")
    }
}
