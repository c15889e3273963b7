// Package version holds ringlb's version, the one home of it: ringlbctl
// --version prints it, the module's ringlb._VERSION and ringlb_version()
// return it (RINGLB_VERSION in cgo/ringlb_call.h, tied to it by a
// compile-time check in exports.go), and the Debian package takes its
// version from it (scripts/deb.sh asks the ringlbctl it ships).
package version

// Version is ringlb's version, in the form MAJOR.MINOR.PATCH.
const Version = "0.1.0"
