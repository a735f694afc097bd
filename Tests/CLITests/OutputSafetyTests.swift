import Foundation
import TestSupport
import FileIO
import VGGCore
import XCTest

/// The temporary output is private to vggconv: removed when a catchable signal ends the process, never
/// reached through a planted symlink, and never one of the command's own inputs.
final class OutputSafetyTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    /// Starts a conversion that pauses before its rename (test hook), waits for the partial file,
    /// sends `signal`, and checks that the process died of it and left nothing behind.
    func assertSignalRemovesPartialFile(_ signal: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: vggconvExecutable)
        process.arguments = ["keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", scratch.file("out.vggw")]
        var environment = ProcessInfo.processInfo.environment
        environment["VGGCONV_TEST_PAUSE_BEFORE_RENAME"] = "30"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !scratch.contents().contains(where: { $0.hasPrefix(".out.vggw.partial-") }), Date() < deadline {
            usleep(20_000)
        }
        let partial = scratch.contents().first { $0.hasPrefix(".out.vggw.partial-") }
        XCTAssertNotNil(partial, "the paused conversion holds a partial file", file: file, line: line)
        if let partial {
            let attributes = try FileManager.default.attributesOfItem(atPath: scratch.file(partial))
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            XCTAssertEqual(mode & 0o077, 0, "the partial file is private (mode \(String(mode, radix: 8)))", file: file, line: line)
        }
        usleep(200_000)  // let it reach the pause (the partial file exists before the data is written)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        if signal == SIGBUS {  // a mapped input that shrank: a refusal, not a crash
            XCTAssertEqual(process.terminationReason, .exit, file: file, line: line)
            XCTAssertEqual(process.terminationStatus, 2, file: file, line: line)
        } else {
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, file: file, line: line)
            XCTAssertEqual(process.terminationStatus, signal, file: file, line: line)
        }
        XCTAssertEqual(scratch.contents(), [], "no partial or final file after signal \(signal)", file: file, line: line)
    }

    func testEveryCatchableTerminatingSignalCleansUp() throws {
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM] {
            try assertSignalRemovesPartialFile(signal)
        }
    }

    /// A crash (or a fault signal) removes the partial file too and still ends the process with that
    /// signal; a bus error (a mapped input truncated meanwhile) becomes exit 2.
    func testFaultsCleanUpAndABusErrorIsARefusal() throws {
        for signal in [SIGSEGV, SIGABRT, SIGILL, SIGFPE, SIGBUS] {
            try assertSignalRemovesPartialFile(signal)
        }
    }

    /// With --force, an output path that is a symlink to another file is replaced by the new file; the
    /// file the link pointed to is untouched (the rename replaces the link, the write never follows it).
    func testPlantedSymlinkAtTheOutputDoesNotRedirectTheWrite() throws {
        let victim = scratch.file("victim.txt")
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: scratch.file("out.vggw"), withDestinationPath: victim)
        let result = try vggconv("keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", scratch.file("out.vggw"), "--force")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n")
        let type = try FileManager.default.attributesOfItem(atPath: scratch.file("out.vggw"))[.type] as? FileAttributeType
        XCTAssertEqual(type, .typeRegular)
    }

    /// `run -o` refuses to overwrite its own model or input, even with --force and through a symlink.
    func testRunRefusesToOverwriteItsInputs() throws {
        let model = scratch.file("model.vggw")
        XCTAssertEqual(try vggconv("keras2native", Samples.path("vgg_small_tfkeras_model.h5"), "-o", model).status, 0)
        let input = scratch.file("x.npy")
        try FileManager.default.copyItem(atPath: Samples.path("golden/vgg_small_input_nchw.npy"), toPath: input)
        try FileManager.default.createSymbolicLink(atPath: scratch.file("alias.npy"), withDestinationPath: input)
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        for target in [model, input, scratch.file("alias.npy")] {
            let result = try vggconv("run", model, "--input", input, "-o", target, "--force")
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.contains("is both the input and the output"), result.stderr)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model)), before)
    }
}

/// `verify` never passes on a NaN or an infinity, for class scores and for 4-D feature maps alike, and
/// does not claim a top-5 comparison it did not make.
final class VerifyNonFiniteTests: XCTestCase {
    func testNaNGoldenOnAFeatureMapFails() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let model = scratch.file("notop.vggw")
        XCTAssertEqual(try vggconv("torch2native", Samples.path("vgg_notop.pth"), "-o", model).status, 0)
        let input = Samples.path("golden/vgg_notop_input_nchw.npy")
        let honest = try vggconv("verify", model, "--input", input, "--golden", Samples.path("golden/vgg_notop_torch_output.npy"))
        XCTAssertEqual(honest.status, 0, honest.stdout + honest.stderr)
        XCTAssertTrue(honest.stdout.contains("no class scores, so no top-k compared"), honest.stdout)
        XCTAssertFalse(honest.stdout.contains("top-5 identical"), honest.stdout)

        let golden = try NpyArray.read(path: Samples.path("golden/vgg_notop_torch_output.npy"))
        for (name, value) in [("nan", Float.nan), ("inf", Float.infinity)] {
            var bad = golden
            bad.bytes = [Float](repeating: value, count: golden.bytes.count / 4).withUnsafeBytes { Array($0) }
            let path = scratch.file("\(name).npy")
            try bad.write(to: path)
            let result = try vggconv("verify", model, "--input", input, "--golden", path)
            XCTAssertEqual(result.status, 1, "\(name): \(result.stdout)")
            XCTAssertTrue(result.stdout.contains("NaN or infinite values"), result.stdout)
        }
    }
}
