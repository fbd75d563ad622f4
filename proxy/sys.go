package proxy

import "syscall"

// errTooManyFiles is the accept error that means "try again later".
var errTooManyFiles = syscall.EMFILE
