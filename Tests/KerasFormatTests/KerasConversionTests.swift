import Foundation
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// Every Keras flavour the generator wrote must convert to exactly the tensors PyTorch's state_dict
/// holds for the same weights (samples/expected, written by the generator from PyTorch).
final class KerasConversionTests: XCTestCase {
    /// Keras files per model, with the architecture JSON a flavour needs (Keras 3 .weights.h5).
    static let flavours: [(suffix: String, config: String?)] = [
        ("_tfkeras_weights.h5", nil),
        ("_tfkeras_model.h5", nil),
        ("_keras3_model.h5", nil),
        ("_keras3.keras", nil),
        ("_keras3.weights.h5", "_keras3_config.json"),
        ("_keras1_style.h5", nil),
        ("_tfkeras_weights.h5", "_tfkeras_config.json"),
        // The tf-keras full model re-stored by h5py (samples/generate_h5_variants.py): chunked with
        // gzip, shuffle and Fletcher-32, and in the newest HDF5 file format.
        ("_tfkeras_model_h5py_chunked.h5", nil),
        ("_tfkeras_model_h5py_latest.h5", nil),
    ]

    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func convert(_ model: String, _ flavour: (suffix: String, config: String?), dtype: DType? = nil) throws -> NativeFile? {
        let input = Samples.path(model + flavour.suffix)
        guard FileManager.default.fileExists(atPath: input) else { return nil }  // keras1-style: no BN models
        let output = scratch.file("\(model)\(flavour.suffix)\(flavour.config == nil ? "" : "+config").vggw")
        _ = try Converter.kerasToNative(input: input, options: ConversionOptions(
            output: output, dtype: dtype, configPath: flavour.config.map { Samples.path(model + $0) }))
        return try NativeFile(path: output)
    }

    func testEveryFlavourEqualsPyTorchStateDictBitForBit() throws {
        var converted = 0
        for (model, entry) in Samples.models {
            let expected = try Samples.expectedTensors(model)
            XCTAssertEqual(expected.count, entry.tensors.count)
            for flavour in Self.flavours {
                guard let native = try convert(model, flavour) else { continue }
                converted += 1
                let context = "\(model)\(flavour.suffix) config=\(flavour.config ?? "-")"
                XCTAssertEqual(Set(native.header.tensors.map(\.name)), Set(expected.keys), context)
                for tensor in native.header.tensors {
                    guard let want = expected[tensor.name] else { continue }
                    XCTAssertEqual(tensor.shape, want.shape, "\(context) \(tensor.name)")
                    XCTAssertEqual(tensor.dtype, want.dtype, "\(context) \(tensor.name)")
                    let same = native.withBytes(of: tensor) { Array($0) == want.bytes }
                    XCTAssertTrue(same, "\(context): \(tensor.name) differs from PyTorch's state_dict")
                }
                XCTAssertEqual(native.header.architecture.layers.map(\.name), entry.layers, context)
            }
        }
        XCTAssertEqual(converted, 4 * 8 + 3, "4 models in 8 flavours, 3 of them also in the Keras-1 layout")
    }

    func testOutputShapesFollowTheArchitecture() throws {
        let native = try XCTUnwrap(try convert("vgg_small", ("_keras3.keras", nil)))
        let layers = native.header.architecture.layers
        XCTAssertEqual(native.header.architecture.inputShape, [3, 32, 32])
        XCTAssertEqual(layers.first { $0.name == "block4_pool" }?.outputShape, [24, 2, 2])
        XCTAssertEqual(layers.first { $0.name == "flatten" }?.outputShape, [96])
        XCTAssertEqual(layers.last?.outputShape, [10])
        XCTAssertEqual(layers.last?.config.activation, "softmax")
    }

    func testHeadersMatchSchemaAndNumpyReadsTensors() throws {
        for model in Samples.models.keys {
            for flavour in Self.flavours { _ = try convert(model, flavour) }
        }
        let files = scratch.contents().filter { $0.hasSuffix(".vggw") }.map { scratch.file($0) }
        XCTAssertEqual(files.count, 4 * 8 + 3)
        let check = try python([Samples.repositoryRoot + "/scripts/check/vggw_schema.py"] + files)
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)

        // fc1.weight is the tensor with the Flatten row permutation: the hardest one to get right.
        let out = scratch.file("fc1.npy")
        let read = try python([Samples.repositoryRoot + "/scripts/reference/read_vggw.py",
                               scratch.file("vgg_small_keras3.keras.vggw"), "fc1.weight", out])
        XCTAssertEqual(read.status, 0, read.stderr)
        let expected = try XCTUnwrap(Samples.expectedTensors("vgg_small")["fc1.weight"])
        let got = try NpyArray.read(path: out)
        XCTAssertEqual(got.shape, expected.shape)
        XCTAssertEqual(got.bytes, expected.bytes)
    }

    func testFloat16OutputRoundsEachValue() throws {
        let native = try XCTUnwrap(try convert("vgg_bn", ("_tfkeras_model.h5", nil), dtype: .float16))
        let expected = try Samples.expectedTensors("vgg_bn")
        for tensor in native.header.tensors {
            XCTAssertEqual(tensor.dtype, .float16)
            let want = try XCTUnwrap(expected[tensor.name]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let got = native.withBytes(of: tensor) { Array($0.bindMemory(to: UInt16.self)) }
            XCTAssertEqual(got, want.map { Float16($0).bitPattern }, tensor.name)
        }
    }

    func testKeras3WeightsWithoutConfigAsksForOne() throws {
        XCTAssertThrowsError(try Converter.kerasToNative(
            input: Samples.path("vgg_small_keras3.weights.h5"), options: ConversionOptions(output: scratch.file("x.vggw")))) {
            XCTAssertTrue("\($0)".contains("give the model's architecture JSON"), "\($0)")
            XCTAssertEqual(($0 as? Remediable)?.remedy, .giveKerasConfigOrArchitecture, "the cause survives the isolated reader")
        }
        XCTAssertEqual(scratch.contents(), [])
    }

    func testWeightsForAnotherArchitectureAreRefusedNamingTheLayer() throws {
        XCTAssertThrowsError(try Converter.kerasToNative(
            input: Samples.path("vgg_small_tfkeras_weights.h5"),
            options: ConversionOptions(output: scratch.file("x.vggw"), configPath: Samples.path("vgg_dropout_tfkeras_config.json")))) {
            XCTAssertTrue("\($0)".contains("layer 'block2_conv3' with weights, which the architecture does not have"), "\($0)")
        }
        XCTAssertEqual(scratch.contents(), [])
    }

    func testInspectNamesKerasTensorsCanonicallyWithAbsoluteOffsets() throws {
        let path = Samples.path("vgg_small_keras3.keras")
        let inventory = try TensorInventory.of(path: path)
        let expected = try Samples.expectedTensors("vgg_small")
        XCTAssertEqual(Set(inventory.tensors.map(\.name)), Set(expected.keys))
        let kernel = try XCTUnwrap(inventory.tensors.first { $0.name == "block1_conv1.weight" })
        XCTAssertEqual(kernel.layout, .hwio)
        XCTAssertEqual(kernel.shape, [3, 3, 3, 8])
        // The offset is absolute in the archive: the stored bytes there are the HWIO kernel.
        let file = try MappedFile(path: path)
        let bytes = file.bytes(offset: try XCTUnwrap(kernel.offset), length: kernel.nbytes)
        XCTAssertEqual(CRC32.hex(bytes.withUnsafeBytes { CRC32.of($0) }), kernel.crc32)
        let oihw = try XCTUnwrap(expected["block1_conv1.weight"]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let hwio = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        // HWIO[h][w][i][o] == OIHW[o][i][h][w] for a few positions.
        for (o, i, h, w) in [(0, 0, 0, 0), (7, 2, 1, 2), (3, 1, 2, 0)] {
            XCTAssertEqual(hwio[((h * 3 + w) * 3 + i) * 8 + o], oihw[((o * 3 + i) * 3 + h) * 3 + w])
        }
    }
}
