// dlmscope: the errors the library throws.
//
// Every failure a user can cause (bad input, an unreadable file, an unsupported setting) is an
// Error whose message names the file, key or value involved. Cancelled is thrown by generate()
// when its cancel flag is raised between steps; it is an Error, so one catch covers both.
#pragma once

#include <stdexcept>

namespace dlmscope {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Generation was stopped on request (a signal, Ctrl-C in Python, a cancel flag); not a failure.
class Cancelled : public Error {
public:
    using Error::Error;
};

}  // namespace dlmscope
