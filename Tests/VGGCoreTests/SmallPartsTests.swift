import Foundation
import TestSupport
import FileIO
import VGGCore
import XCTest

final class CanonicalNamesTests: XCTestCase {
    /// keras.applications.VGG16's layer names (keras/src/applications/vgg16.py), from its layer sequence.
    func testVGG16SequenceGetsKerasApplicationNames() {
        let cfg: [Int] = [2, 2, 3, 3, 3]
        var types: [LayerType] = []
        for convs in cfg { types += Array(repeating: .conv2d, count: convs) + [.maxPooling2d] }
        types += [.flatten, .dense, .dense, .dense]
        let names = CanonicalNames.assign(types)
        XCTAssertEqual(Array(names.prefix(7)), ["block1_conv1", "block1_conv2", "block1_pool", "block2_conv1", "block2_conv2", "block2_pool", "block3_conv1"])
        XCTAssertEqual(Array(names.suffix(8)), ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool", "flatten", "fc1", "fc2", "predictions"])
    }

    func testNamesStayUniqueWhenTheSequenceRepeatsALayerKind() {
        let names = CanonicalNames.assign([.conv2d, .batchNormalization, .batchNormalization, .maxPooling2d, .maxPooling2d])
        XCTAssertEqual(names, ["block1_conv1", "block1_conv1_bn", "block1_conv1_bn_1", "block1_pool", "block2_pool"])
        XCTAssertEqual(Set(names).count, names.count)
    }

    func testNormalizationAndWeightlessLayers() {
        let names = CanonicalNames.assign([.conv2d, .batchNormalization, .relu, .maxPooling2d, .dropout, .flatten, .dense, .batchNormalization, .dropout, .dense])
        XCTAssertEqual(names, ["block1_conv1", "block1_conv1_bn", "re_lu", "block1_pool", "dropout", "flatten", "fc1", "fc1_bn", "dropout_1", "predictions"])
    }
}

final class NpyTests: XCTestCase {
    func testWriteThenReadAndNumpyAgrees() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let values: [Float] = [1.5, -2, 3.25, 0, 7, 8]
        let array = NpyArray(dtype: .float32, shape: [2, 3], bytes: values.withUnsafeBytes { Array($0) })
        let path = scratch.file("a.npy")
        try array.write(to: path)
        let back = try NpyArray.read(path: path)
        XCTAssertEqual(back.shape, [2, 3])
        XCTAssertEqual(back.bytes, array.bytes)
        let check = try python(["-c", "import numpy as np; a = np.load('\(path)'); print(a.dtype, a.shape, a.sum())"])
        XCTAssertEqual(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "float32 (2, 3) 17.75")
    }

    func testFortranOrderIsRefused() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let path = scratch.file("f.npy")
        _ = try python(["-c", "import numpy as np; np.save('\(path)', np.asfortranarray(np.ones((2, 3), 'f4')))"])
        XCTAssertThrowsError(try NpyArray.read(path: path)) { XCTAssertTrue("\($0)".contains("Fortran order")) }
    }
}

/// The `.npy` header parser accepts what NumPy's `np.load` accepts and refuses what it refuses: each
/// header below is written into a file and NumPy's verdict on it is asked for, not assumed.
final class NpyHeaderGrammarTests: XCTestCase {
    /// Headers for a 2x3 float32 array (24 data bytes), each padded and ended with a newline.
    static let headers = [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3)}",
        "{'shape': (2, 3,), 'fortran_order': False, 'descr': '<f4'}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
        "{'descr': '<f4', 'shape': (2, 3), }",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3.0), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3) ",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (02, 3), }",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }",
        "['descr', '<f4']",
    ]

    func testAcceptsExactlyWhatNumPyAccepts() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        var paths: [String] = []
        for (index, header) in Self.headers.enumerated() {
            var text = header
            text += String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
            let bytes = NpyArray.magic + [1, 0, UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)] + Array(text.utf8)
                + [UInt8](repeating: 0, count: 24)
            let path = scratch.file("h\(index).npy")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let script = """
        import sys, numpy as np
        for path in sys.argv[1:]:
            try:
                np.load(path, allow_pickle=False)
                print("ok")
            except Exception:
                print("refused")
        """
        let verdicts = try python(["-c", script] + paths).stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(verdicts.count, paths.count)
        XCTAssertEqual(verdicts.filter { $0 == "ok" }.count, 4, "NumPy's own verdicts: \(verdicts)")
        for (index, (path, verdict)) in zip(paths, verdicts).enumerated() {
            let ours = (try? NpyArray.read(path: path)) != nil
            XCTAssertEqual(ours, verdict == "ok", "header \(index): \(Self.headers[index])")
        }
    }
}

final class ZipArchiveTests: XCTestCase {
    func testKerasArchiveEntriesAndChecksums() throws {
        let archive = try ZipArchive(file: try MappedFile(path: Samples.path("vgg_small_keras3.keras")))
        XCTAssertEqual(Set(archive.entries.map(\.name)), ["metadata.json", "config.json", "model.weights.h5"])
        for entry in archive.entries { XCTAssertTrue(try archive.checksumMatches(entry), entry.name) }
    }

    func testPyTorchArchiveUsesZip64AndAlignedRecords() throws {
        let archive = try ZipArchive(file: try MappedFile(path: Samples.path("vgg_small.pth")))
        let data = archive.entries.filter { $0.name.contains("/data/") }
        XCTAssertFalse(data.isEmpty)
        for entry in data { XCTAssertEqual(entry.dataOffset % 64, 0, entry.name) }
        XCTAssertTrue(archive.entries.contains { $0.name.hasSuffix("data.pkl") })
    }

    func testTruncatedArchiveIsRefused() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let whole = try Data(contentsOf: URL(fileURLWithPath: Samples.path("vgg_small_keras3.keras")))
        let path = scratch.file("t.keras")
        try whole.prefix(whole.count - 100).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ZipArchive(file: try MappedFile(path: path))) {
            XCTAssertTrue("\($0)".contains("end-of-central-directory"), "\($0)")
        }
    }
}

final class FloatConversionTests: XCTestCase {
    /// bfloat16 keeps the top 16 bits of a float32, rounding to nearest even.
    func testBFloat16Rounding() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let values: [Float] = [1.0, 1.00390625, 1.01171875, -3.5, 65504, 1e-40]
        let expected: [UInt16] = [0x3F80, 0x3F80, 0x3F82, 0xC060, 0x4780, 0x0001]
        let t = SourceTensor(sourceName: "x", dtype: .float32, shape: [values.count], layout: .vector,
                             data: TensorData(bytes: values.withUnsafeBytes { Array($0) }), fileOffset: nil)
        let layer = SourceLayer(name: "bn", type: .batchNormalization, config: LayerConfig(epsilon: 1e-3),
                                parameters: [SourceParameter(role: .movingMean, tensor: t), SourceParameter(role: .movingVariance, tensor: t)])
        let kernel = SourceTensor(sourceName: "k", dtype: .float32, shape: [1, 1, 1, 6], layout: .hwio,
                                  data: TensorData(bytes: [UInt8](repeating: 0, count: 24)), fileOffset: nil)
        let conv = SourceLayer(name: "c", type: .conv2d, config: LayerConfig(filters: 6, kernelSize: [1, 1], strides: [1, 1], padding: .same, useBias: false),
                               parameters: [SourceParameter(role: .kernel, tensor: kernel)])
        let model = SourceModel(format: "t", path: "m", layers: [conv, layer], inputShape: [1, 1, 1], dataFormat: .channelsLast,
                                architectureInferred: false)
        let path = scratch.file("b.vggw")
        try NativeWriter.write(try ModelAssembler.plan(model, targetDType: .bfloat16), to: path, overwrite: false, sourceBytes: 0)
        let native = try NativeFile(path: path)
        let tensor = try native.tensor(named: "block1_conv1_bn.running_mean")
        XCTAssertEqual(tensor.dtype, .bfloat16)
        XCTAssertEqual(native.withBytes(of: tensor) { Array($0.bindMemory(to: UInt16.self)) }, expected)
    }
}

final class ChecksumPiecesTests: XCTestCase {
    /// Pieces added in any order combine into the whole buffer's CRC-32 only when they cover it exactly.
    func testPiecesCombineOnlyWhenTheyCoverTheBytesExactlyOnce() {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        func crc(_ range: Range<Int>) -> UInt32 { bytes.withUnsafeBytes { CRC32.of(UnsafeRawBufferPointer(rebasing: $0[range])) } }
        let whole = crc(0..<bytes.count)
        let cuts = [0, 1, 4_096, 4_097, 9_000, 10_000]
        let pieces = ChecksumPieces()
        for i in [3, 0, 4, 2, 1] { pieces.add(offset: cuts[i], length: cuts[i + 1] - cuts[i], crc: crc(cuts[i]..<cuts[i + 1])) }
        XCTAssertEqual(pieces.combined(count: bytes.count), whole)
        XCTAssertNil(pieces.combined(count: bytes.count + 1))
        let gap = ChecksumPieces(), overlap = ChecksumPieces()
        gap.add(offset: 0, length: 4_096, crc: crc(0..<4_096))
        gap.add(offset: 4_097, length: 5_903, crc: crc(4_097..<10_000))
        XCTAssertNil(gap.combined(count: bytes.count))
        overlap.add(offset: 0, length: 5_000, crc: crc(0..<5_000))
        overlap.add(offset: 4_000, length: 6_000, crc: crc(4_000..<10_000))
        XCTAssertNil(overlap.combined(count: bytes.count))
    }
}
