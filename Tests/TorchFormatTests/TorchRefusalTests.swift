import Foundation
import TestSupport
import TorchFormat
import FileIO
import VGGCore
import XCTest

/// Hostile and damaged PyTorch files: refused through the CLI with exit 2, a specific message, no
/// output and no side effect. (Seeded mutation fuzzing of every format: CLITests/MutationFuzzTests.)
final class TorchRefusalTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func assertRefused(_ input: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try vggconv("torch2native", input, "-o", scratch.file("out.vggw"))
        XCTAssertEqual(result.status, 2, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(scratch.contents().filter { !$0.hasPrefix("input") }, [], file: file, line: line)
    }

    private func damagedCopy(_ source: String, _ edit: (inout Data) -> Void) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: Samples.path(source)))
        edit(&data)
        let path = scratch.file("input-" + URL(fileURLWithPath: source).lastPathComponent)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func testPickleCallingOsSystemIsRefusedWithoutRunningIt() throws {
        let marker = "/tmp/vggconv-pwned"
        try? FileManager.default.removeItem(atPath: marker)
        try assertRefused(Samples.path("torch/malicious_os_system.pth"), "refusing to load global posix.system (not a tensor constructor)")
        let inspect = try vggconv("inspect", Samples.path("torch/malicious_os_system.pth"))
        XCTAssertEqual(inspect.status, 2)
        XCTAssertTrue(inspect.stderr.contains("posix.system"), inspect.stderr)
        XCTAssertFalse(inspect.stderr.contains("state_dict()"), "a function is not a pickled model: \(inspect.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the payload ran")
    }

    /// `torch.save(model)` pickles the module's class, which only running its code rebuilds: refused like
    /// any global, with what to do instead. The pickle starts as torch.save's does for torchvision's VGG:
    /// PROTO 2, GLOBAL 'torchvision.models.vgg VGG', EMPTY_TUPLE, NEWOBJ, then the object's state.
    func testWholePickledModelIsRefusedWithAStateDictHint() throws {
        let path = scratch.file("input-whole_model.pth")
        let pickle = "b'\\x80\\x02ctorchvision.models.vgg\\nVGG\\nq\\x00)\\x81q\\x01}q\\x02b.'"
        let write = try python(["-c", """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w") as z:
                z.writestr("whole_model/data.pkl", \(pickle))
                z.writestr("whole_model/version", "3\\n")
            """, path])
        XCTAssertEqual(write.status, 0, write.stderr)
        try assertRefused(path, "refusing to load global torchvision.models.vgg.VGG")
        let inspect = try vggconv("inspect", path)
        XCTAssertEqual(inspect.status, 2)
        XCTAssertTrue(inspect.stderr.contains("whole pickled object, e.g. torch.save(model)"), inspect.stderr)
        XCTAssertTrue(inspect.stderr.contains("save model.state_dict() instead"), inspect.stderr)
    }

    func testTruncatedZip() throws {
        try assertRefused(try damagedCopy("vgg_small.pth") { $0 = $0.prefix($0.count / 2) }, "no end-of-central-directory record")
    }

    func testBadCentralDirectory() throws {
        let path = try damagedCopy("vgg_small.pth") { data in
            let signature = Data([0x50, 0x4B, 0x01, 0x02])
            let at = data.range(of: signature)!.lowerBound
            data[at + 2] = 0x07
        }
        try assertRefused(path, "central directory entry 0")
    }

    func testUnknownOpcode() throws {
        try assertRefused(Samples.path("torch/damaged_unknown_opcode.pth"), "malformed pickle at byte 2: unknown opcode 0xff")
    }

    func testStorageShorterThanTheTensor() throws {
        try assertRefused(Samples.path("torch/damaged_short_storage.pth"), "storage shorter than the tensor claims")
    }

    func testOverflowingShape() throws {
        try assertRefused(Samples.path("torch/damaged_shape_overflow.pth"), "overflows")
    }

    func testNotPyTorchAtAll() throws {
        let path = scratch.file("input-random.pth")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }).write(to: URL(fileURLWithPath: path))
        try assertRefused(path, "expected a PyTorch .pth/.pt file")
    }

    func testDamagedRecordFailsItsCRC() throws {
        let archive = try ZipArchive(file: try MappedFile(path: Samples.path("vgg_small.pth")))
        let record = try XCTUnwrap(archive.entry(named: "vgg_small/data/0"))
        let path = try damagedCopy("vgg_small.pth") { data in data[record.dataOffset + 5] ^= 0xFF }
        let result = try vggconv("inspect", path)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("fails its CRC-32"), result.stderr)
    }

    /// Conversions check a record's CRC-32 on the bytes they stream (one pass, not a read ahead): a byte
    /// flipped in any tensor record still fails every writer, with nothing left at the output.
    func testDamagedRecordFailsEveryConversionBeforeTheRename() throws {
        let archive = try ZipArchive(file: try MappedFile(path: Samples.path("vgg_small.pth")))
        let records = archive.entries.filter { $0.name.contains("/data/") && $0.compressedSize >= 8 }
        XCTAssertGreaterThan(records.count, 4)
        for record in records {
            let path = try damagedCopy("vgg_small.pth") { data in data[record.dataOffset + record.compressedSize / 2] ^= 0x40 }
            try assertRefused(path, "record '\(record.name)' fails its CRC-32")
        }
        let largest = try XCTUnwrap(records.max { $0.compressedSize < $1.compressedSize })
        let path = try damagedCopy("vgg_small.pth") { data in data[record: largest] ^= 0x01 }
        for output in ["out.pth", "out.safetensors", "out.onnx", "out.h5", "out.keras", "out.vggw"] {
            let result = try vggconv("convert", path, "-o", scratch.file(output))
            XCTAssertEqual(result.status, 2, "\(output): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("fails its CRC-32"), "\(output): \(result.stderr)")
            XCTAssertEqual(scratch.contents().filter { !$0.hasPrefix("input") }, [], output)
        }
        // diff checks the same checksums on the bytes it compares, whichever way it reads them: in tiles
        // against a Keras twin (kernels stored transposed), by hash and then in blocks against the original.
        for record in records {
            let damaged = try damagedCopy("vgg_small.pth") { data in data[record.dataOffset + record.compressedSize / 2] ^= 0x40 }
            try assertDiffRefuses(damaged, record: record.name)
        }
        // A wrong recorded checksum on intact bytes: every tensor is identical (shown by the position
        // hashes), and the record still fails.
        let wrongChecksum = try damagedCopy("vgg_small.pth") { data in
            let recorded = withUnsafeBytes(of: largest.crc32.littleEndian) { Data($0) }
            var from = data.startIndex
            while let found = data[from...].firstRange(of: recorded) {
                if !(largest.dataOffset..<(largest.dataOffset + largest.compressedSize)).contains(found.lowerBound) {
                    data[found.lowerBound] ^= 0x01
                }
                from = found.upperBound
            }
        }
        try assertDiffRefuses(wrongChecksum, record: largest.name)
    }

    private func assertDiffRefuses(_ path: String, record: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for other in ["vgg_small_tfkeras_model.h5", "vgg_small.pth"] {
            let diff = try vggconv("diff", path, Samples.path(other))
            XCTAssertEqual(diff.status, 2, "\(record) vs \(other): \(diff.stdout)", file: file, line: line)
            XCTAssertTrue(diff.stderr.contains("record '\(record)' fails its CRC-32"), "\(other): \(diff.stderr)", file: file, line: line)
        }
    }
}

private extension Data {
    /// The last byte of `record`'s data.
    subscript(record record: ZipArchive.Entry) -> UInt8 {
        get { self[record.dataOffset + record.compressedSize - 1] }
        set { self[record.dataOffset + record.compressedSize - 1] = newValue }
    }
}
