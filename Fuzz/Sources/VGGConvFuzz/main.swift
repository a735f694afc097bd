import CFuzzerDriver
import Foundation
import KerasFormat

// The harness is chosen by VGGCONV_FUZZ_TARGET (pickle, zip, vggw, npy, json, hdf5); the arguments are
// libFuzzer's (corpus directories, -max_total_time=…, or crash files to replay).

let harness: Harness = {
    let name = ProcessInfo.processInfo.environment["VGGCONV_FUZZ_TARGET"] ?? ""
    guard let harness = Harness(rawValue: name) else {
        FileHandle.standardError.write(Data("set VGGCONV_FUZZ_TARGET to one of: \(Harness.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return harness
}()
// libhdf5 reads run in a forked child: carry its coverage back, and its traps and sanitizer reports
// (CFuzzerDriver/coverage.c).
if vggconv_child_coverage_setup() != 0 { IsolatedChildObservers.beforeExit = vggconv_child_coverage_save }
IsolatedChildObservers.afterEnd = vggconv_child_ended
IsolatedChildObservers.childKeepsStandardError = true

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    harness.run(bytes)
    return 0
})
