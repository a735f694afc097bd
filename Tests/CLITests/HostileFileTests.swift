import Foundation
import TestSupport
import XCTest

/// Every hostile file in samples/hostile (written by samples/hostile/generate.py as the attacks describe)
/// is refused by every command its manifest names: exit status 2, one line on stderr naming the
/// problem, nothing written, within a time limit and an address-space limit far below what the
/// attacks asked for (so an allocation bomb ends in a crash, which fails the test).
final class HostileFileTests: XCTestCase {
    struct Case: Decodable {
        struct Run: Decodable {
            let args: [String]
            let message: String
        }
        let file: String
        let runs: [Run]
    }

    static let memoryLimitKiB = 1_500_000
    static let secondsLimit = 20

    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    /// Runs vggconv under `ulimit -v` and `timeout`.
    static func runBounded(_ arguments: [String], environment: [String] = []) throws -> (ProcessResult, TimeInterval) {
        let start = Date()
        let script = "ulimit -v \(memoryLimitKiB) && exec timeout -s KILL \(secondsLimit) \"$@\""
        let result = try runProcess("/usr/bin/env", environment + ["bash", "-c", script, "bash", vggconvExecutable] + arguments)
        return (result, Date().timeIntervalSince(start))
    }

    /// Checks the refusal contract for one command line.
    func assertRefused(_ arguments: [String], message: String, environment: [String] = [],
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let before = Set(scratch.contents())
        let (result, seconds) = try Self.runBounded(arguments, environment: environment)
        let label = arguments.joined(separator: " ")
        XCTAssertEqual(result.status, 2, "\(label): \(result.stderr.prefix(500))", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "\(label): stderr was \(result.stderr.prefix(500))", file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n", omittingEmptySubsequences: false).count, 2,
                       "\(label): exactly one line: \(result.stderr.prefix(500))", file: file, line: line)
        XCTAssertLessThan(result.stderr.utf8.count, 1_400, "\(label): the message is bounded", file: file, line: line)
        XCTAssertFalse(result.stderr.unicodeScalars.dropLast().contains { $0.value < 0x20 && $0 != "\t" },
                       "\(label): no control characters reach the terminal", file: file, line: line)
        XCTAssertLessThan(seconds, Double(Self.secondsLimit), "\(label): bounded time", file: file, line: line)
        XCTAssertEqual(Set(scratch.contents()), before, "\(label): no output or temporary file", file: file, line: line)
    }

    func testEveryHostileFileIsRefusedByEveryCommand() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Samples.path("hostile/manifest.json")))
        let cases = try JSONDecoder().decode([String: [Case]].self, from: data)["cases"] ?? []
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for hostile in cases {
            for run in hostile.runs {
                let arguments = run.args.map {
                    $0.replacingOccurrences(of: "{file}", with: Samples.path("hostile/\(hostile.file)"))
                        .replacingOccurrences(of: "{out}", with: scratch.file("out.vggw"))
                        .replacingOccurrences(of: "{npy}", with: scratch.file("out.npy"))
                        .replacingOccurrences(of: "{png}", with: scratch.file("out.png"))
                        .replacingOccurrences(of: "{model}", with: Samples.path("vgg_small.pth"))
                }
                try assertRefused(arguments, message: run.message)
            }
        }
    }

    /// A damaged attribute made libhdf5 allocate and fill 4 GiB in the isolated child (refused only by the
    /// 3 s alarm, after ~4 GB). The child's data segment is capped at its size plus the file's budget, so
    /// the allocation fails at once. Measured without `ulimit` (which would mask it) by a fresh Python
    /// parent: the peak resident memory of vggconv and its child.
    func testLibhdf5AllocationsInTheChildAreCapped() throws {
        let script = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            + "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        let result = try runProcess("/usr/bin/env", ["python3", "-c", script, vggconvExecutable, "summary",
                                                     Samples.path("hostile/found/libhdf5_vlen_4gib.h5")])
        let fields = result.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(fields.count, 2, result.stdout + result.stderr)
        XCTAssertEqual(fields.first, 2, "refused")
        XCTAssertLessThan(fields.last ?? .max, 512 << 10, "peak resident KiB of vggconv and its child")
    }

    /// The other file's bytes must not reach any output: nothing is written, and the refusal happens
    /// before libhdf5 is asked for the data (the message names the external storage, not a read error).
    func testExternalStorageNeverReadsTheOtherFile() throws {
        let (result, _) = try Self.runBounded(["inspect", Samples.path("hostile/external_storage.h5"), "--json"])
        XCTAssertEqual(result.status, 2)
        XCTAssertFalse(result.stdout.contains("root"), "no /etc/passwd bytes on stdout")
        XCTAssertTrue(result.stderr.contains("external file"), result.stderr)
    }

    /// A safetensors header listing 1.4M empty tensors took 5.5 GB and segfaulted under 4 GiB: the
    /// tensors are counted before the JSON is parsed, and more than 65,536 are refused by every reader.
    func testSafetensorsWithTooManyTensorsIsRefusedBeforeParsing() throws {
        let path = scratch.file("many.safetensors")
        let script = """
        import json, struct, sys
        header = json.dumps({f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(70000)}).encode()
        with open(sys.argv[1], "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
        """
        XCTAssertEqual(try python(["-c", script, path]).status, 0)
        for arguments in [["inspect", path], ["summary", path], ["convert", path, "-o", scratch.file("out.vggw")]] {
            try assertRefused(arguments, message: "lists 70000 tensors, more than the 65536")
        }
    }

    /// A zip with 60,000 entries is listed in linear time (lookups are by dictionary).
    func testZipWithManyEntriesIsFast() throws {
        let path = scratch.file("many.pth")
        let script = """
        import sys, zipfile
        with zipfile.ZipFile(sys.argv[1], "w") as z:
            for i in range(60000):
                z.writestr(f"archive/data/{i}", b"")
            z.writestr("archive/data.pkl", b"\\x80\\x02}.")
            z.writestr("archive/byteorder", "little")
        """
        XCTAssertEqual(try python(["-c", script, path]).status, 0)
        let (result, seconds) = try Self.runBounded(["inspect", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertLessThan(seconds, 5, "60,000 entries must not take quadratic time")
    }

    /// A zip64 archive (what Python writes with force_zip64) reads like any other.
    func testRealZip64ArchiveReads() throws {
        let path = scratch.file("zip64.pth")
        let script = """
        import sys, zipfile
        with zipfile.ZipFile(sys.argv[2]) as src, zipfile.ZipFile(sys.argv[1], "w") as dst:
            for info in src.infolist():
                with dst.open(info.filename, "w", force_zip64=True) as out:
                    out.write(src.read(info.filename))
        """
        XCTAssertEqual(try python(["-c", script, path, Samples.path("vgg_small.pth")]).status, 0)
        let zip64 = try runProcess(vggconvExecutable, ["inspect", path])
        let plain = try runProcess(vggconvExecutable, ["inspect", Samples.path("vgg_small.pth")])
        XCTAssertEqual(zip64.status, 0, zip64.stderr)
        let crcs = { (text: String) in text.split(separator: "\n").dropFirst(2).map { $0.split(separator: " ").filter { $0.count == 8 } } }
        XCTAssertEqual(crcs(zip64.stdout), crcs(plain.stdout))
        XCTAssertEqual(crcs(plain.stdout).count, 28)
    }

    /// A Keras JSON of 10,000 layers is refused by its layer count, quickly.
    func testHugeArchitectureJSONIsRefused() throws {
        let layer = #"{"class_name": "Dropout", "config": {"name": "d%d", "rate": 0.5}}"#
        let layers = (0..<10_000).map { layer.replacingOccurrences(of: "%d", with: String($0)) }
        let json = #"{"class_name": "Sequential", "config": {"name": "m", "layers": ["# + layers.joined(separator: ",") + "]}}"
        let path = scratch.file("huge.json")
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        try assertRefused(["summary", path], message: "layers")
    }

    /// keras2native with a config whose pool size is negative writes nothing (a file vggconv writes
    /// must be one it can run).
    /// The sample tf-keras config with the first `original` replaced by `replacement`, written to scratch.
    func editedConfig(_ original: String, _ replacement: String, name: String) throws -> String {
        var config = try String(contentsOfFile: Samples.path("vgg_small_tfkeras_config.json"), encoding: .utf8)
        let range = try XCTUnwrap(config.range(of: original))
        config.replaceSubrange(range, with: replacement)
        let path = scratch.file(name)
        try Data(config.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testNegativePoolSizeInConfigIsRefusedBeforeWriting() throws {
        let path = try editedConfig(#""pool_size": [2, 2]"#, #""pool_size": [-2, -2]"#, name: "negative_pool.json")
        try assertRefused(["keras2native", Samples.path("vgg_small_tfkeras_weights.h5"), "--config", path, "-o", scratch.file("out.vggw")],
                          message: "pool_size [-2, -2]")
    }

    /// Numbers out of range, from a config or the command line: one line and status 2, never a trap.
    func testOutOfRangeNumbersAreRefused() throws {
        let path = try editedConfig(#""units": 32"#, #""units": 4611686018427387904"#, name: "units.json")
        try assertRefused(["summary", path], message: "has units 4611686018427387904")
        // Usage errors keep ArgumentParser's own text (message, help line, usage), still status 2.
        let (shape, _) = try Self.runBounded(["summary", Samples.path("vgg_small_keras3.keras"), "--input-shape", "99999999999,32,3"])
        XCTAssertEqual(shape.status, 2, shape.stderr)
        XCTAssertTrue(shape.stderr.contains("--input-shape needs three integers H,W,C from 1 to 32768"), shape.stderr)
        let model = scratch.file("m.vggw")
        XCTAssertEqual(try vggconv("keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", model).status, 0)
        let before = Set(scratch.contents())
        let (bench, _) = try Self.runBounded(["bench", model, "--batch", "9223372036854775807"])
        XCTAssertEqual(bench.status, 2, bench.stderr)
        XCTAssertTrue(bench.stderr.contains("--batch must be 1 to 256"), bench.stderr)
        XCTAssertEqual(Set(scratch.contents()), before)
    }
}
