/* train_fake.c - build/train (examples/train.c, unchanged) with the fake Metal classes installed,
   so `--backend metal` runs the real irontensor_metal.h on the emulator (tests/metal/train_fake.sh
   compares its progress lines with the CPU's). */
int fake_metal_install(void);
#define main train_program_main
#include "../../../examples/train.c"
#undef main
int main(int argc, char **argv) {
    fake_metal_install();
    return train_program_main(argc, argv);
}
