/* msgsend_x86_64.S - objc_msgSend and objc_msgSend_stret for Linux x86-64 over GCC's libobjc (tests
   only). Each saves every argument register (rdi..r9, rax = vector-register count, xmm0..7), asks
   objc_msg_lookup(receiver, selector) for the IMP, restores them and tail-jumps: stack arguments
   (by-value MTLSize) and the hidden struct-return pointer reach the IMP untouched, which is the
   contract of Apple's x86-64 dispatchers. The backend built with IT_METAL_FAKE_MSGSEND therefore
   runs the macOS x86-64 calling sequence, _stret included. */
    .text
    .macro IT_SAVE
    subq    $200, %rsp              /* entry rsp = 8 mod 16: 200 makes it 0 mod 16 for the call */
    movq    %rdi, 0(%rsp)
    movq    %rsi, 8(%rsp)
    movq    %rdx, 16(%rsp)
    movq    %rcx, 24(%rsp)
    movq    %r8, 32(%rsp)
    movq    %r9, 40(%rsp)
    movq    %rax, 48(%rsp)
    movdqu  %xmm0, 56(%rsp)
    movdqu  %xmm1, 72(%rsp)
    movdqu  %xmm2, 88(%rsp)
    movdqu  %xmm3, 104(%rsp)
    movdqu  %xmm4, 120(%rsp)
    movdqu  %xmm5, 136(%rsp)
    movdqu  %xmm6, 152(%rsp)
    movdqu  %xmm7, 168(%rsp)
    .endm
    .macro IT_RESTORE_JUMP
    movq    %rax, %r11              /* the IMP */
    movq    0(%rsp), %rdi
    movq    8(%rsp), %rsi
    movq    16(%rsp), %rdx
    movq    24(%rsp), %rcx
    movq    32(%rsp), %r8
    movq    40(%rsp), %r9
    movq    48(%rsp), %rax
    movdqu  56(%rsp), %xmm0
    movdqu  72(%rsp), %xmm1
    movdqu  88(%rsp), %xmm2
    movdqu  104(%rsp), %xmm3
    movdqu  120(%rsp), %xmm4
    movdqu  136(%rsp), %xmm5
    movdqu  152(%rsp), %xmm6
    movdqu  168(%rsp), %xmm7
    addq    $200, %rsp
    jmp     *%r11
    .endm

    .globl  objc_msgSend
    .type   objc_msgSend, @function
objc_msgSend:                       /* rdi = self, rsi = _cmd */
    IT_SAVE
    call    objc_msg_lookup@PLT
    IT_RESTORE_JUMP
    .size   objc_msgSend, .-objc_msgSend

    .globl  objc_msgSend_stret
    .type   objc_msgSend_stret, @function
objc_msgSend_stret:                 /* rdi = hidden result pointer, rsi = self, rdx = _cmd */
    IT_SAVE
    movq    %rsi, %rdi
    movq    %rdx, %rsi
    call    objc_msg_lookup@PLT
    IT_RESTORE_JUMP
    .size   objc_msgSend_stret, .-objc_msgSend_stret
    .section .note.GNU-stack,"",@progbits
