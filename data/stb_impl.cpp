// The one translation unit that compiles stb_image and stb_image_write
// (header-only libraries: exactly one file defines the implementation).
// taper decodes PNG and JPEG (data sets) and writes PNG and JPEG (tests, tools).
#define STB_IMAGE_IMPLEMENTATION
// Only the decoders taper uses are compiled: an image folder file named .png
// that holds a PSD, TGA or PIC (stb decodes by content) is refused instead
// of reaching decoders with a longer history of crashes (docs/reliability.md).
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STB_IMAGE_WRITE_IMPLEMENTATION
// Third-party C code: its warnings are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop
