import CHDF5
import Foundation
import KerasFormat
import TestSupport
import TorchFormat
import SafetensorsFormat
import FileIO
import VGGCore
import XCTest

/// `convert … -o X.h5 | X.weights.h5 | X.keras` from every input flavour: read back by vggconv's own
/// Keras reader, every tensor is bit-identical to the canonical one; the HDF5 attributes are the ones
/// every Keras loader reads; summaries equal Keras's own text; round trips through PyTorch are exact.
/// (Loading into tf-keras and Keras 3 themselves: scripts/check/keras_exports.py in the samples venv.)
final class KerasExportTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    /// The Keras outputs: extension, extra arguments, and the architecture JSON a reader needs to read
    /// it back (weights-only files record no config): `tf` is the tf-keras config, `k3` the Keras 3 one.
    static let outputs: [(name: String, arguments: [String], config: String?)] = [
        ("model.h5", [], nil), ("weights-only.h5", ["--h5-content", "weights"], "tf"),
        ("model.weights.h5", [], "k3"), ("model.keras", [], nil),
    ]

    private func crcs(_ path: String, config: String? = nil) throws -> [String: String] {
        let native = scratch.file(URL(fileURLWithPath: path).lastPathComponent + "-\(config == nil ? "alone" : "config").vggw")
        let converted = try runProcess(vggconvExecutable, ["convert", path, "-o", native, "--force"] + (config.map { ["--config", $0] } ?? []))
        XCTAssertEqual(converted.status, 0, "\(path): \(converted.stderr)")
        let result = try vggconv("inspect", native, "--json")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let tensors = object?["tensors"] as? [[String: Any]] ?? []
        return Dictionary(tensors.map { ($0["name"] as? String ?? "", $0["crc32"] as? String ?? "") }) { a, _ in a }
    }

    private func configFile(_ kind: String?, model: String) -> String? {
        switch kind {
        case "tf": return Samples.path("\(model)_tfkeras_config.json")
        case "k3": return Samples.path("\(model)_keras3_config.json")
        default: return nil
        }
    }

    func testEveryFlavourExportsToEveryKerasFileWithBitIdenticalTensors() throws {
        for input in Samples.everyFlavour {
            let source = Samples.path(input.file), stem = input.file.replacingOccurrences(of: "/", with: "_")
            let sourceConfig = input.config.map { ["--config", Samples.path($0)] } ?? []
            let expected = try crcs(source, config: input.config.map { Samples.path($0) })
            XCTAssertFalse(expected.isEmpty, input.file)
            for output in Self.outputs {
                let path = scratch.file("\(stem)-\(output.name)")
                let export = try runProcess(vggconvExecutable, ["convert", source, "-o", path] + output.arguments + sourceConfig)
                XCTAssertEqual(export.status, 0, "\(input.file) -> \(output.name): \(export.stderr)")
                XCTAssertTrue(export.stdout.contains("load it with: "), export.stdout)
                XCTAssertEqual(try crcs(path, config: configFile(output.config, model: input.model)), expected,
                               "\(input.file) -> \(output.name) read back")
            }
        }
    }

    /// Fixed-length strings (old loaders `.decode()` them), `keras_version` and `backend` always present,
    /// contiguous float32 datasets at tf-keras's paths.
    /// The AVX2 transposes and the portable ones (VGGCONV_SIMD=generic) write the same bytes, both ways.
    func testPortableTransposesWriteIdenticalTensors() throws {
        let keras = Samples.path("vgg_small_tfkeras_model.h5"), torch = Samples.path("vgg_small.pth")
        for (input, output) in [(keras, "fast.vggw"), (torch, "fast.h5")] {
            let fast = try runProcess(vggconvExecutable, ["convert", input, "-o", scratch.file(output)])
            let portable = try runProcess("/usr/bin/env", ["VGGCONV_SIMD=generic", vggconvExecutable, "convert", input,
                                                           "-o", scratch.file("portable-" + output)])
            XCTAssertEqual(fast.status, 0, fast.stderr)
            XCTAssertEqual(portable.status, 0, portable.stderr)
            let same = try vggconv("diff", scratch.file(output), scratch.file("portable-" + output), "--atol", "0", "--rtol", "0")
            XCTAssertEqual(same.status, 0, same.stdout + same.stderr)
            XCTAssertTrue(same.stdout.contains("IDENTICAL"), same.stdout)
        }
    }

    func testLegacyH5AttributesAreFixedLengthAndVersioned() throws {
        let full = scratch.file("full.h5"), weights = scratch.file("weights.h5")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_bn.pth"), "-o", full).status, 0)
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_bn.pth"), "-o", weights, "--h5-content", "weights").status, 0)
        CHDF5_silence_errors()
        for (path, group) in [(full, "model_weights"), (weights, ".")] {
            let file = H5Fopen(path, CHDF5_F_ACC_RDONLY(), CHDF5_P_DEFAULT())
            XCTAssertGreaterThanOrEqual(file, 0, path)
            defer { H5Fclose(file) }
            var attributes = [(group, "layer_names"), (group, "keras_version"), (group, "backend"), ("\(group)/block1_conv1", "weight_names")]
            if group != "." { attributes += [(".", "model_config"), (".", "keras_version"), (".", "backend")] }
            for (object, name) in attributes {
                let attribute = H5Aopen_by_name(file, object, name, CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT())
                XCTAssertGreaterThanOrEqual(attribute, 0, "\(path): \(object) has no \(name)")
                let type = H5Aget_type(attribute)
                XCTAssertEqual(H5Tget_class(type), H5T_STRING, "\(object).\(name)")
                XCTAssertEqual(H5Tis_variable_str(type), 0, "\(object).\(name) is a variable-length string")
                H5Tclose(type)
                H5Aclose(attribute)
            }
            let dataset = H5Dopen2(file, "\(group)/block1_conv1/block1_conv1/kernel:0", CHDF5_P_DEFAULT())
            XCTAssertGreaterThanOrEqual(dataset, 0, path)
            let creation = H5Dget_create_plist(dataset)
            XCTAssertEqual(H5Pget_layout(creation), H5D_CONTIGUOUS)
            XCTAssertEqual(H5Pget_nfilters(creation), 0)
            H5Pclose(creation)
            H5Dclose(dataset)
        }
    }

    /// `summary` of an exported file prints exactly what Keras printed for the model it came from.
    func testSummariesOfExportsEqualKerasOwn() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout", "vgg_notop"] {
            for source in ["\(model)_keras3.keras", "\(model).pth"] {
                let shape = model == "vgg_notop" && source.hasSuffix(".pth") ? ["--input-shape", "32,32,3"] : []
                let keras = scratch.file("\(model).keras"), h5 = scratch.file("\(model).h5")
                guard source.hasSuffix(".keras") || shape.isEmpty else { continue }  // a bare state_dict records no input size
                XCTAssertEqual(try vggconv("convert", Samples.path(source), "-o", keras, "--force").status, 0, source)
                XCTAssertEqual(try vggconv("convert", Samples.path(source), "-o", h5, "--force").status, 0, source)
                let golden3 = try String(contentsOfFile: Samples.path("summaries/\(model)_keras3.txt"), encoding: .utf8)
                let golden2 = try String(contentsOfFile: Samples.path("summaries/\(model)_tfkeras.txt"), encoding: .utf8)
                XCTAssertEqual(try vggconv("summary", keras).stdout, golden3, "\(source) -> .keras")
                XCTAssertEqual(try vggconv("summary", h5, "--style", "keras2").stdout, golden2, "\(source) -> .h5")
            }
        }
    }

    /// Keras → .pth → Keras and PyTorch → .h5 → PyTorch give back the same tensors, bit for bit.
    func testRoundTripsThroughTheOtherFrameworkAreExact() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout"] {
            let keras = Samples.path("\(model)_tfkeras_model.h5"), torch = Samples.path("\(model).pth")
            let viaTorch = scratch.file("\(model)_via.pth"), backToKeras = scratch.file("\(model)_back.h5")
            XCTAssertEqual(try vggconv("convert", keras, "-o", viaTorch).status, 0)
            XCTAssertEqual(try vggconv("convert", viaTorch, "-o", backToKeras).status, 0)
            XCTAssertEqual(try crcs(backToKeras), try crcs(keras), "\(model): Keras -> .pth -> Keras")
            let viaKeras = scratch.file("\(model)_via.h5"), backToTorch = scratch.file("\(model)_back.pth")
            XCTAssertEqual(try vggconv("convert", torch, "-o", viaKeras).status, 0)
            XCTAssertEqual(try vggconv("convert", viaKeras, "-o", backToTorch).status, 0)
            XCTAssertEqual(try crcs(backToTorch), try crcs(torch), "\(model): PyTorch -> .h5 -> PyTorch")
            // The Keras file's own arrays come back too: HWIO kernels and H,W,C-ordered fc1 rows.
            let layers = Set(try crcs(keras).keys.map { String($0.split(separator: ".")[0]) })
            assertSameDatasets(keras, backToKeras, layers: layers.sorted())
        }
    }

    /// `--dtype f16` writes float16 datasets; vggconv reads them back as float16.
    func testHalfPrecisionExport() throws {
        let path = scratch.file("half.keras")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_small.pth"), "-o", path, "--dtype", "f16").status, 0)
        let native = scratch.file("half.vggw")
        XCTAssertEqual(try vggconv("convert", path, "-o", native).status, 0)
        let result = try vggconv("verify", native, "--input", Samples.path("golden/vgg_small_input_nchw.npy"),
                                 "--golden", Samples.path("golden/vgg_small_torch_logits.npy"), "--atol", "2e-3", "--rtol", "2e-2")
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(try vggconv("inspect", native).stdout.contains("float16"))
    }

    /// torchvision's AdaptiveAvgPool2d(7) is an identity where its input is already 7x7 and is left out
    /// with a note; at an input size where it averages, Keras has no such layer and the export is refused.
    func testAdaptivePoolingIsOmittedOnlyWhereItIsAnIdentity() throws {
        let source = Samples.path("timm_vgg_small.safetensors")  // 28x28 input: avgpool sees 7x7
        let identity = scratch.file("identity.h5")
        let result = try vggconv("convert", source, "-o", identity)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("avgpool (AdaptiveAvgPool2d) is an identity at the 28x28 input"), result.stderr)
        XCTAssertEqual(try crcs(identity), try crcs(source))
        var model = try SafetensorsModel.read(path: source)
        // torchvision's module is AdaptiveAvgPool2d((7, 7)): at a 56x56 input it averages 14x14 to 7x7.
        model.inputShape = model.dataFormat == .channelsLast ? [56, 56, 3] : [3, 56, 56]
        for index in model.layers.indices where model.layers[index].type == .adaptiveAvgPool2d { model.layers[index].config.outputSize = [7, 7] }
        let plan = try ModelAssembler.plan(model)
        XCTAssertThrowsError(try KerasExport(plan, modelName: nil, keras3: true)) { error in
            XCTAssertTrue("\(error)".contains("averages a 14x14 map to 7x7 at this input size; Keras has no such layer"), "\(error)")
        }
    }

    /// Every dataset of the tf-keras file `a` has the same bytes at the same path of `b`.
    private func assertSameDatasets(_ a: String, _ b: String, layers: [String], file: StaticString = #filePath, line: UInt = #line) {
        CHDF5_silence_errors()
        let (fa, fb) = (H5Fopen(a, CHDF5_F_ACC_RDONLY(), CHDF5_P_DEFAULT()), H5Fopen(b, CHDF5_F_ACC_RDONLY(), CHDF5_P_DEFAULT()))
        defer { H5Fclose(fa); H5Fclose(fb) }
        var compared = 0
        for layer in layers {
            for variable in ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"] {
                let path = "model_weights/\(layer)/\(layer)/\(variable):0"
                guard H5Lexists(fa, "model_weights/\(layer)", CHDF5_P_DEFAULT()) > 0, H5Lexists(fa, "model_weights/\(layer)/\(layer)", CHDF5_P_DEFAULT()) > 0,
                      H5Lexists(fa, path, CHDF5_P_DEFAULT()) > 0 else { continue }
                XCTAssertEqual(floats(fa, path), floats(fb, path), "\(path)", file: file, line: line)
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 0, file: file, line: line)
    }

    private func floats(_ file: hid_t, _ path: String) -> [Float]? {
        let dataset = H5Dopen2(file, path, CHDF5_P_DEFAULT())
        guard dataset >= 0 else { return nil }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        var values = [Float](repeating: .nan, count: Int(H5Sget_simple_extent_npoints(space)))
        guard values.withUnsafeMutableBytes({ H5Dread(dataset, CHDF5_T_NATIVE_FLOAT(), CHDF5_S_ALL(), CHDF5_S_ALL(), CHDF5_P_DEFAULT(), $0.baseAddress) }) >= 0 else { return nil }
        return values
    }
}
