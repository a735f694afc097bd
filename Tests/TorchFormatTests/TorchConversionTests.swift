import Foundation
import TestSupport
import TorchFormat
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// PyTorch files written by real torch.save convert to exactly the tensors torch itself holds.
final class TorchConversionTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func convert(_ file: String, dtype: DType? = nil, arch: String? = nil) throws -> NativeFile {
        let output = scratch.file(file.replacingOccurrences(of: "/", with: "_") + ".vggw")
        _ = try Converter.torchToNative(input: Samples.path(file), options: ConversionOptions(output: output, dtype: dtype),
                                        architecture: arch)
        return try NativeFile(path: output)
    }

    private func assertEqualsExpected(_ native: NativeFile, model: String, file: String) throws {
        let expected = try Samples.expectedTensors(model)
        XCTAssertEqual(Set(native.header.tensors.map(\.name)), Set(expected.keys), file)
        for tensor in native.header.tensors {
            let want = try XCTUnwrap(expected[tensor.name], "\(file) \(tensor.name)")
            XCTAssertEqual(tensor.shape, want.shape, "\(file) \(tensor.name)")
            XCTAssertTrue(native.withBytes(of: tensor) { Array($0) == want.bytes }, "\(file): \(tensor.name) differs from PyTorch's")
        }
        XCTAssertEqual(native.header.architecture.layers.map(\.name), Samples.models[model]?.layers, file)
    }

    func testZipLegacyCheckpointAndProtocol4FilesEqualTheStateDict() throws {
        for (file, model) in [("vgg_small.pth", "vgg_small"), ("vgg_bn.pth", "vgg_bn"), ("vgg_dropout.pth", "vgg_dropout"),
                              ("torch/vgg_small_legacy.pth", "vgg_small"), ("torch/vgg_bn_legacy.pth", "vgg_bn"),
                              ("torch/vgg_small_checkpoint.pth", "vgg_small"), ("torch/vgg_small_protocol4.pth", "vgg_small"),
                              ("torch/vgg_small_tutorial_checkpoint.pth", "vgg_small"),
                              ("torch/vgg_dropout_deflated.pth", "vgg_dropout"), ("torch/vgg_dropout_bigendian.pth", "vgg_dropout")] {
            try assertEqualsExpected(try convert(file), model: model, file: file)
        }
    }

    func testHalfAndBFloat16AreKeptAsStored() throws {
        for (file, dtype) in [("torch/vgg_small_fp16.pth", DType.float16), ("torch/vgg_small_bf16.pth", .bfloat16)] {
            let native = try convert(file)
            let expected = try XCTUnwrap(TorchExpectations.files[file.replacingOccurrences(of: "torch/", with: "")])
            for tensor in native.header.tensors {
                XCTAssertEqual(tensor.dtype, dtype)
                XCTAssertEqual(tensor.crc32, expected[tensor.sourceName]?.crc32, "\(file) \(tensor.name) (\(tensor.sourceName))")
            }
        }
    }

    func testKerasAndPyTorchFilesOfTheSameWeightsGiveIdenticalNativeTensors() throws {
        for model in Samples.models.keys {
            let fromTorch = try convert("\(model).pth")
            let kerasOutput = scratch.file("\(model)-keras.vggw")
            _ = try Converter.kerasToNative(input: Samples.path("\(model)_keras3.keras"), options: ConversionOptions(output: kerasOutput))
            let fromKeras = try NativeFile(path: kerasOutput)
            XCTAssertEqual(fromTorch.header.tensors.map(\.name), fromKeras.header.tensors.map(\.name), model)
            XCTAssertEqual(fromTorch.header.tensors.map(\.crc32), fromKeras.header.tensors.map(\.crc32), model)
            for (a, b) in zip(fromTorch.header.tensors, fromKeras.header.tensors) {
                XCTAssertTrue(fromTorch.withBytes(of: a) { x in fromKeras.withBytes(of: b) { y in Array(x) == Array(y) } }, a.name)
            }
        }
    }

    func testArchitectureAssertion() throws {
        XCTAssertThrowsError(try convert("vgg_small.pth", arch: "vgg16")) {
            XCTAssertTrue("\($0)".contains("it was asserted to hold vgg16"), "\($0)")
        }
        XCTAssertEqual(scratch.contents(), [])
    }

    func testInspectListsExactlyWhatTorchLoadReturns() throws {
        for (file, expected) in TorchExpectations.files {
            let inventory = try TensorInventory.of(path: Samples.path("torch/\(file)"))
            let byKey = Dictionary(uniqueKeysWithValues: inventory.tensors.map { ($0.sourceName, $0) })
            XCTAssertEqual(Set(byKey.keys), Set(expected.keys), file)
            for (key, want) in expected {
                let got = try XCTUnwrap(byKey[key], "\(file) \(key)")
                XCTAssertEqual(got.dtype.rawValue, want.dtype, "\(file) \(key)")
                XCTAssertEqual(got.shape, want.shape, "\(file) \(key)")
                XCTAssertEqual(got.crc32, want.crc32, "\(file) \(key)")
            }
        }
        let checkpoint = try TensorInventory.of(path: Samples.path("torch/vgg_small_checkpoint.pth"))
        let others = Dictionary(uniqueKeysWithValues: checkpoint.nonTensors.map { ($0.name, $0.value) })
        XCTAssertEqual(others["epoch"], "12")
        XCTAssertEqual(others["arch"], "'vgg_small'")
        XCTAssertEqual(checkpoint.tensors.first?.name, "block1_conv1.weight")
        XCTAssertEqual(checkpoint.tensors.first?.sourceName, "state_dict.module.0.weight")
    }
}

/// Readers take bytes in memory as they take a mapped file (`MappedFile(bytes:name:)`): the same model,
/// tensor for tensor, and the same refusal for the same damage.
final class BytesInMemoryTests: XCTestCase {
    func testAPyTorchFileReadFromBytesEqualsTheFile() throws {
        let path = Samples.path("vgg_small.pth")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let fromFile = try TorchReader.read(path: path)
        let fromBytes = try TorchReader.read(file: MappedFile(bytes: bytes, name: "downloaded.pth"))
        XCTAssertEqual(fromBytes.path, "downloaded.pth")
        let tensors = { (model: SourceModel) in model.layers.flatMap(\.parameters).map(\.tensor) }
        XCTAssertEqual(tensors(fromFile).map(\.sourceName), tensors(fromBytes).map(\.sourceName))
        for (a, b) in zip(tensors(fromFile), tensors(fromBytes)) {
            XCTAssertEqual(a.data.withUnsafeBytes { Array($0) }, b.data.withUnsafeBytes { Array($0) }, a.sourceName)
        }
        var damaged = bytes
        damaged.removeLast(bytes.count / 3)
        XCTAssertThrowsError(try TorchReader.read(file: MappedFile(bytes: damaged, name: "damaged.pth"))) {
            XCTAssertTrue("\($0)".contains("damaged.pth"), "\($0)")
        }
    }
}
